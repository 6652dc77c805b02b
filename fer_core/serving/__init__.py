"""Serving: a model directory or file becomes a classifier (torch or ONNX Runtime) with its own preprocessing;
ensembles, the checks run before a user's model is loaded, ONNX export and int8 quantisation."""
