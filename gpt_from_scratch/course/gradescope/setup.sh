#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image, in /autograder/source (this zip):
# it installs the CPU build of PyTorch and the package with what grading needs (pytest, hypothesis).
set -euo pipefail
cd "$(dirname "$0")"

pip=(python3 -m pip install --disable-pip-version-check)
torch="torch==2.13.0"  # the version the golden files and the tests were made with
if compgen -G "wheels/*.whl" >/dev/null; then
    # Offline: the zip carries every wheel (gpt-from-scratch course autograder --wheels DIR).
    "${pip[@]}" --no-index --find-links wheels "$torch" ".[grading]"
else
    # PyPI's Linux torch is the CUDA build (about 3 GB); PyTorch's own index serves the CPU build.
    "${pip[@]}" "$torch" --index-url https://download.pytorch.org/whl/cpu \
        || "${pip[@]}" "$torch" --extra-index-url https://download.pytorch.org/whl/cpu
    "${pip[@]}" ".[grading]"
fi
python3 -c "import torch, gpt_from_scratch; print('torch', torch.__version__, 'and gpt_from_scratch installed')"
