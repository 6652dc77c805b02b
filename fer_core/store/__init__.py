"""Every on-disk format of the project: model cards, model directories, stored evaluation runs (read and write) and
their JSON files. Free of torch and OpenCV: the dashboard reads only this package and the evaluation tables."""
