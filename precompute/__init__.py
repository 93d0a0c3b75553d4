"""ConvNet Playground precompute pipeline: datasets -> embeddings -> rankings, scores, UMAP, feature visualizations."""

__version__ = "0.1.0"
