"""Your implementations of the five learner concepts. Run `pytest exercises/` to check them."""
