"""Use cases shared by the pages and the command line: photo, video and live analysis (with WebRTC settings),
the train/evaluate/quantize workflows and the CLI. The top layer: it may import every other sub-package."""
