# SPDX-License-Identifier: MIT
# gpu_env.sh: sourced by the GPU scripts. Installs the Vulkan loader packages
# kept in .gl/ (the GPU machine has the NVIDIA driver but no loader), points
# the caches at /tmp and picks the driver manifest if the loader finds none.
OUT=${OUT:-/tmp/aule-gpu}
mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" / 2>/dev/null; done
ldconfig 2>/dev/null
export XDG_RUNTIME_DIR=/tmp AULE_CACHE_DIR=/tmp/aule-cache
A=build/aule
if ! $A info >/dev/null 2>&1 && [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
