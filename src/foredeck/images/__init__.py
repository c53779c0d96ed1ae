"""Container registries: where an image reference points, and the credentials to push there."""
