#!/usr/bin/env bash
# Packs gputel for fine-tuning on a GPU host (run here, where the .NET SDK is):
#   bench/gpu-host/pack-finetune.sh [ARCHIVE]      (default .device/gputel-gpu.tar.xz, git-ignored)
# A self-contained linux-x64 build without the bundled CPU libtorch (-p:TorchFromHost=true): on the
# host, libtorch comes from PyTorch's torch/lib, CUDA included. Beside it, in gcc12/, TorchSharp's
# native library rewritten for hosts whose libstdc++ predates GCC 13 (libstdcxx_compat.py) and the
# one function it then needs (iosinit.cc); finetune.sh picks the variant the host needs.
# xz-compressed (about 40 MB) to travel with the device tool's carry (64 MiB).
set -euo pipefail
cd "$(dirname "$0")/../.."
archive=${1:-.device/gputel-gpu.tar.xz}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

dotnet publish agent -c Release -r linux-x64 --self-contained -p:TorchFromHost=true -p:PublishSingleFile=true \
  -p:DebugType=none -p:GenerateDocumentationFile=false -o "$work/gputel" >&2
mkdir "$work/gputel/gcc12"
cp "$work/gputel/libLibTorchSharp.so" "$work/gputel/gcc12/"
python3 bench/gpu-host/libstdcxx_compat.py "$work/gputel/gcc12/libLibTorchSharp.so" >&2
${CXX:-g++} -shared -fPIC -O2 -Wl,-soname,libgputel-iosinit.so -o "$work/gputel/gcc12/libgputel-iosinit.so" bench/gpu-host/iosinit.cc
mkdir -p "$(dirname "$archive")"
tar -C "$work" -cJf "$archive" gputel
ls -l "$archive" >&2
echo "$archive"
