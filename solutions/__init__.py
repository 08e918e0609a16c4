"""Reference solutions of the five learner concepts, reached by the library through gpt_from_scratch.seam."""
