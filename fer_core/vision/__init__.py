"""The face pipeline on frames: detection, boxes, tracking and smoothing, result types, annotation, and image and
video decoding/encoding. Everything from a frame to boxed, labelled faces."""
