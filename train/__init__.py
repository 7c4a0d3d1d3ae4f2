"""Training stage: data sources, model zoo, training loop, `cnn-train` and `cnn-eval`."""
