#!/usr/bin/env bash
# The README's pictures, rendered from the bundled demo by `strfviewer render` (no window, no screenshot).
set -euo pipefail
cd "$(dirname "$0")/../.."
demo=strfviewer/resources/demo
render() { .venv/bin/strfviewer render --size 1400x860 --scale 1 "$@"; }
render --session $demo/demo.strfsession.json --view window --view spectrograms --view filters --view psth \
    --view compare --out docs/images
render --session $demo/demo.strfsession.json --view causality --range 0.76 0.86 --out docs/images/causality.png
render $demo/responses/stimuli/call_c.flac --model $demo/models/linear-mel --dataset $demo/responses --neuron 32 \
    --view strf --out docs/images/strf.png
