#!/usr/bin/env bash
# Install the system packages the suite needs when they are missing and apt is usable:
# ffmpeg (pydub), chromium (browser tests), espeak-ng and sox (generated IVR prompts), npm.
set -u
need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need+=(sox)
command -v npm >/dev/null 2>&1 || need+=(npm)  # axe-core for the accessibility tests
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${need[*]}"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "warning: missing system packages ${need[*]} (install them with your package manager)" >&2
fi
exit 0
