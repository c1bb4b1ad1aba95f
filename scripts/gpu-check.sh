#!/usr/bin/env bash
# The engine's GPU check (issue 9), for a lent GPU machine that has no Node.js and no network.
#
#   bash scripts/gpu-check.sh pack   here (Node, npm's node_modules, apt and ../shared present):
#       writes .cache/gpu-bundle/ (ignored; about 45 MiB): node.xz (this machine's Node binary),
#       node_modules.tar.xz (only what the engine tests and bench:model load, Linux x64 only),
#       libvulkan1_*.deb (the Vulkan loader WebGPU needs) and hf-tiny/ (the test fixtures).
#   bash scripts/gpu-check.sh run    on the GPU machine, from the repository root, with
#       .cache/gpu-bundle carried: unpacks Node and node_modules, installs the Vulkan loader if
#       the machine lacks one, then runs, each under its own time limit:
#         1. which providers onnxruntime-node sees, and a one-MatMul WebGPU session;
#         2. the engine tests on the fixtures (Llama family, GPT, KV cache) with every graph on
#            the webgpu provider (RLBENCH_PROVIDER=webgpu; float64 nodes fall back to the CPU);
#         3. bench:model --quick on webgpu (Qwen2.5-0.5B shape), against PyTorch on CUDA when
#            the machine's Python has torch + transformers;
#       writes every log under $OUT (./gpu-check-out without it) and ends with one PASS/FAIL
#       line per step; exits 1 if any step failed. About 6 minutes at most (step limits 45 +
#       120 + 150 s, plus unpacking); a step over its limit is cut and reported with its log. GPU_CHECK_PROVIDER=cpu runs the same steps on the CPU
#       (and installs nothing): how the packaging was checked on a machine without a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
BUNDLE=.cache/gpu-bundle

pack() {
  set -e
  rm -rf "$BUNDLE" && mkdir -p "$BUNDLE"
  echo "node $(node --version) -> $BUNDLE/node.xz"
  xz -9 -T0 -c "$(command -v node)" >"$BUNDLE/node.xz"
  # Packages the engine tests and bench:model load (found by running them from a copy holding
  # only these; see the run step's CPU check below), with the other platforms' binaries left out.
  local pkgs=(tsx esbuild @esbuild/linux-x64 get-tsconfig resolve-pkg-maps onnxruntime-node onnxruntime-common
    onnx-proto protobufjs long @protobufjs @huggingface/tokenizers @huggingface/jinja)
  local list=()
  for p in "${pkgs[@]}"; do [ -e "node_modules/$p" ] && list+=("node_modules/$p") || echo "warning: node_modules/$p missing"; done
  tar -cJf "$BUNDLE/node_modules.tar.xz" \
    --exclude='node_modules/onnxruntime-node/bin/napi-v6/win32' --exclude='node_modules/onnxruntime-node/bin/napi-v6/darwin' \
    --exclude='node_modules/onnxruntime-node/bin/napi-v6/linux/arm64' --exclude='*.map' --exclude='*.md' \
    "${list[@]}"
  local apt=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64-lists)
  mkdir -p /tmp/amd64-lists/partial
  apt-get "${apt[@]}" update -qq >/dev/null
  (cd "$BUNDLE" && apt-get "${apt[@]}" download libvulkan1 >/dev/null)
  cp -r ../shared/fixtures/hf-tiny "$BUNDLE/hf-tiny"
  du -sh "$BUNDLE"/*
  du -sh "$BUNDLE"
}

run() {
  OUT="${OUT:-$PWD/gpu-check-out}"
  mkdir -p "$OUT"
  local summary="$OUT/summary.txt" failed=0
  : >"$summary"
  step() { # name, seconds, command...: runs it under a time limit, logs to $OUT/<name>.log
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    local verdict=PASS
    [ $rc -ne 0 ] && verdict="FAIL (exit $rc$([ $rc -eq 124 ] && echo ", over ${limit} s"))" && failed=1
    echo "$verdict  $name  ($((SECONDS - t0)) s, log $name.log)" | tee -a "$summary"
  }

  unxz_to_stdout() { # xz, or Python's lzma where xz is missing
    if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
  }
  local W=/tmp/rlbench-gpu
  mkdir -p "$W/bin"
  rm -f "$W/bin/node" && unxz_to_stdout "$BUNDLE/node.xz" >"$W/bin/node" && chmod +x "$W/bin/node"
  export PATH="$W/bin:$PATH"
  [ -d node_modules/onnxruntime-node ] || unxz_to_stdout "$BUNDLE/node_modules.tar.xz" | tar -x
  # The tests read the fixtures from ../shared (beside the checkout), which does not travel.
  if [ ! -d ../shared/fixtures/hf-tiny ]; then mkdir -p ../shared/fixtures && cp -r "$BUNDLE/hf-tiny" ../shared/fixtures/; fi
  export RLBENCH_HF_FIXTURES="$PWD/../shared/fixtures/hf-tiny"
  local provider="${GPU_CHECK_PROVIDER:-webgpu}" # cpu: to check the packaging on a machine without a GPU
  # WebGPU needs the Vulkan loader; the GPU machine may lack it (installed into / only there).
  if [ "$provider" = webgpu ] && ! ldconfig -p | grep -q 'libvulkan.so.1'; then
    for f in "$BUNDLE"/libvulkan1_*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$icd" ] && export VK_DRIVER_FILES="$icd"
  {
    echo "node $(command -v node) $(node --version); $(uname -m); VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
    ldconfig -p | grep -E 'libvulkan|libcuda' || true
  } >"$OUT/machine.txt"

  step providers 45 node --import tsx --input-type=module -e "
    import { listProviders } from './harness/engine/session.ts';
    import { Graph } from './harness/engine/graph/builder.ts';
    import * as op from './harness/engine/graph/ops.ts';
    import { serializeGraph } from './harness/engine/graph/serialize.ts';
    import { createSession, ort } from './harness/engine/session.ts';
    console.log(JSON.stringify(listProviders()));
    const g = new Graph('mm'); g.output(op.matmul(g.input('a', 'float32', [2, 3]), g.input('b', 'float32', [3, 2])), 'y');
    const s = await createSession(serializeGraph(g), { provider: '$provider' });
    const y = await s.run({ a: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]), b: new ort.Tensor('float32', Float32Array.from([1, 0, 0, 1, 1, 1]), [3, 2]) });
    const got = Array.from(y.y.data);
    console.log('$provider MatMul', got);
    if (got.join() !== '4,5,10,11') throw new Error('wrong MatMul result ' + got);
  "
  # 1. The engine tests (fixtures: log-probs within 5e-4 of float64 references, greedy
  #    continuations through the KV cache, gradients) with every session on webgpu.
  step "tests-$provider" 120 env RLBENCH_PROVIDER="$provider" node --import tsx scripts/test.ts tests/engine/llama tests/engine/kv-cache tests/engine/policy tests/engine/sampler
  # 2. The 0.5B shape on webgpu, short; with PyTorch on CUDA where it can be had.
  local peer=()
  if python3 -c 'import torch, transformers; assert torch.cuda.is_available()' >/dev/null 2>&1; then peer=(--python "$(command -v python3)" --peer-device cuda); fi
  step "bench-model-$provider" 150 node --import tsx benchmarks/micro/model.bench.ts --provider "$provider" --quick --batches 1,16 "${peer[@]}"
  grep -E '^(# (pass|fail)|not ok)' "$OUT/tests-$provider.log" >>"$summary" 2>/dev/null
  echo "--- summary ($OUT)"
  cat "$summary"
  return $failed
}

case "${1:-}" in
  pack) pack ;;
  run) run ;;
  *)
    echo "usage: bash scripts/gpu-check.sh pack|run" >&2
    exit 2
    ;;
esac
