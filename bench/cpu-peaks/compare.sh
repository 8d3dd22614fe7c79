#!/usr/bin/env bash
# Sampled against exact CPU peaks: the estimator accuracy tests' twelve configurations, each run
# by `gputel finetune` twice (default sampled peaks, then --exact-cpu-peaks), each in a process of
# its own. Prints, per configuration, the highest phase peak after step 0 each way, what the
# sampled one missed, and the median step time each way (the exact set-up's page faults).
#
#   bench/cpu-peaks/compare.sh [STEPS]     # default 4 steps a run; needs a Release build of agent/
set -euo pipefail
cd "$(dirname "$0")/../.."
steps="${1:-4}"
gputel=(dotnet agent/bin/Release/net10.0/gputel.dll)
[[ -f agent/bin/Release/net10.0/gputel.dll ]] || dotnet build -c Release agent -v q >/dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

gqa='{"architectures":["Qwen2ForCausalLM"],"vocab_size":4096,"hidden_size":768,"intermediate_size":2048,"num_hidden_layers":4,"num_attention_heads":12,"num_key_value_heads":4,"max_position_embeddings":4096,"rope_theta":10000,"rms_norm_eps":1e-6,"tie_word_embeddings":false}'
gqa2048="${gqa/\"vocab_size\":4096/\"vocab_size\":2048}"
mha='{"architectures":["LlamaForCausalLM"],"vocab_size":8192,"hidden_size":640,"intermediate_size":1792,"num_hidden_layers":6,"num_attention_heads":10,"num_key_value_heads":10,"max_position_embeddings":4096,"rope_theta":10000,"rms_norm_eps":1e-6,"tie_word_embeddings":false}'
echo "$gqa" > "$work/gqa.json"; echo "$gqa2048" > "$work/gqa-v2048.json"; echo "$mha" > "$work/mha.json"

# layout method checkpointing dtype batch cutoff
configs=(
  "gqa full no fp32 2 256" "gqa full yes fp32 2 256" "gqa freeze no fp32 2 256" "gqa lora no fp32 2 512"
  "gqa-v2048 lora no bf16 2 1024" "gqa lora yes fp32 4 512" "gqa freeze yes fp32 2 256" "mha lora yes fp32 2 1024"
  "mha full no fp32 1 512" "mha freeze no fp32 1 512" "mha freeze yes fp32 1 512" "mha lora no fp32 1 512"
)

summarize() {  # steps.jsonl -> "peak_bytes phase median_step_seconds"
  python3 - "$1" <<'PY'
import json, sys, statistics, collections
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
steady = [l for l in lines if l["step"] >= 1]
top = max(steady, key=lambda l: l["peak_bytes"])
per_step = collections.defaultdict(float)
for l in steady:
    per_step[l["step"]] += l["seconds"]
print(top["peak_bytes"], top["phase"], statistics.median(per_step.values()))
PY
}

echo "| configuration | sampled peak (phase) | exact peak (phase) | sampled below exact | step, sampled / exact |"
echo "| --- | ---: | ---: | ---: | ---: |"
for c in "${configs[@]}"; do
  read -r layout method ckpt dtype batch cutoff <<<"$c"
  args=(finetune --model "$work/$layout.json" --method "$method" --steps "$steps" --dtype "$dtype" --batch-size "$batch" --cutoff-len "$cutoff" --trainable-layers 2)
  [[ "$ckpt" == yes ]] && args+=(--gradient-checkpointing)
  "${gputel[@]}" "${args[@]}" --out "$work/sampled" >/dev/null
  "${gputel[@]}" "${args[@]}" --exact-cpu-peaks --out "$work/exact" >/dev/null
  read -r sp sphase ss <<<"$(summarize "$work/sampled/steps.jsonl")"
  read -r ep ephase es <<<"$(summarize "$work/exact/steps.jsonl")"
  rm -rf "$work/sampled" "$work/exact"
  python3 -c "
sp, ep, ss, es = $sp, $ep, $ss, $es
mib = 1 << 20
print(f'| $layout $method ckpt=$ckpt $dtype b=$batch s=$cutoff | {sp/mib:.1f} MiB ($sphase) | {ep/mib:.1f} MiB ($ephase) | {(ep-sp)/mib:.1f} MiB ({(ep-sp)/ep*100:.1f} %) | {ss*1e3:.0f} / {es*1e3:.0f} ms |')"
done
