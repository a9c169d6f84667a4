#!/usr/bin/env bash
# A private PulseAudio daemon with a virtual microphone, for the live-input tests (and for trying live input
# on a machine without a sound card).
#
#   eval "$(scripts/virtual_mic.sh start DIR)"   # prints the PULSE_* exports the tests need
#   paplay -d vspk some.wav                       # what you play into the sink "vspk" ...
#                                                 # ... the source "vmic" records
#   scripts/virtual_mic.sh stop DIR               # stops the daemon by its pid
#
# A null sink "vspk", a remap source "vmic" on its monitor (Qt and PortAudio hide monitor sources: the remap
# makes it a microphone), and a silent source looped into the sink so that an idle sink keeps running in
# short blocks (otherwise the first second or two of fed audio is lost). Needs pulseaudio, pulseaudio-utils.
set -euo pipefail

action=${1:?usage: virtual_mic.sh start|stop DIR}
dir=${2:?usage: virtual_mic.sh start|stop DIR}

case "$action" in
  start)
    mkdir -p "$dir/runtime"
    chmod 700 "$dir/runtime"
    export XDG_RUNTIME_DIR="$dir/runtime"
    export PULSE_SERVER="unix:$XDG_RUNTIME_DIR/pulse/native"
    export PULSE_COOKIE="$dir/cookie"
    pulseaudio --daemonize=yes -n --exit-idle-time=-1 --use-pid-file=yes --log-target="file:$dir/pulse.log" \
      --load="module-native-protocol-unix auth-anonymous=1 auth-cookie-enabled=0" \
      --load="module-null-sink sink_name=vspk format=float32le rate=48000 channels=1" \
      --load="module-remap-source source_name=vmic master=vspk.monitor" \
      --load="module-null-source source_name=vsilence rate=48000 channels=1 format=float32le" \
      --load="module-loopback source=vsilence sink=vspk latency_msec=10" 2>>"$dir/pulse.log"
    pactl set-default-source vmic
    # The first samples come about 2 s after a cold start: wait for them, so tests do not race the daemon.
    timeout 10 pacat -r -d vmic --raw 2>/dev/null | head -c 4 >/dev/null || true
    echo "export XDG_RUNTIME_DIR='$XDG_RUNTIME_DIR' PULSE_SERVER='$PULSE_SERVER' PULSE_COOKIE='$PULSE_COOKIE'" \
         "PULSE_SOURCE=vmic STRFVIEWER_VIRTUAL_SINK=vspk QT_AUDIO_BACKEND=pulseaudio"
    ;;
  stop)
    pid_file="$dir/runtime/pulse/pid"
    if [ -f "$pid_file" ]; then
      pid=$(cat "$pid_file")
      kill "$pid" 2>/dev/null || true
      # Wait (up to 5 s) until it has exited and removed its runtime files, so DIR can be deleted after.
      for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
    ;;
  *)
    echo "usage: virtual_mic.sh start|stop DIR" >&2
    exit 2
    ;;
esac
