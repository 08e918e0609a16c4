"""The browser app of `gpt-from-scratch serve` (the [app] extra): a finetuned classifier behind Gradio.

inference.py computes (no Gradio: the tests and benchmarks call it directly), card.py describes the
model, page.py lays out the page; gpt_from_scratch/serve.py loads the model once and starts the server.
"""
