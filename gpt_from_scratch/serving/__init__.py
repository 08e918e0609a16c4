"""A finetuned classifier answering a user: the `classify` command and the browser app of `serve`.

classify.py is the command (messages in, labels and probabilities out). The app (the [app] extra):
inference.py computes (no Gradio: the tests and benchmarks call it directly), card.py describes
the model, page.py lays out the page, serve.py loads the model once and starts the server.
"""
