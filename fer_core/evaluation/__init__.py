"""Evaluation: the conditions faces are scored under, evaluate a model on a dataset split into stored runs, the one
metrics convention (scikit-learn's) that training selection, balancing and the dashboard share, and post-hoc logit
adjustment (balance). The metrics and tables are free of torch and OpenCV so the dashboard can import them."""
