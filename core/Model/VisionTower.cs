namespace Gputel.Core.Model;

/// <summary>The layout of a Qwen2-VL or Qwen2.5-VL vision tower's blocks.</summary>
public enum VisionBlockKind
{
    /// <summary>Qwen2-VL: LayerNorm with bias, a GELU MLP of <c>mlp_ratio</c> x width (fc1, fc2 with bias).</summary>
    Qwen2VL,

    /// <summary>Qwen2.5-VL: RMSNorm, a SwiGLU MLP of <c>intermediate_size</c> (gate, up, down with bias).</summary>
    Qwen25VL,
}

/// <summary>
/// A Qwen2-VL / Qwen2.5-VL vision tower as its <c>vision_config</c> describes it: a 3-D patch
/// embedding (no bias), <paramref name="Depth"/> transformer blocks of <paramref name="Width"/>
/// with fused qkv and an output projection (both with bias), and the patch merger, which
/// normalises, joins spatial_merge_size^2 patches and projects them through two linear layers to
/// the language model's width.
/// </summary>
/// <param name="Kind">Which block layout.</param>
/// <param name="Depth">Blocks (<c>depth</c>).</param>
/// <param name="Width">Block width (<c>embed_dim</c> in Qwen2-VL, <c>hidden_size</c> in Qwen2.5-VL).</param>
/// <param name="MlpWidth">The MLP's inner width (<c>mlp_ratio</c> x width, or <c>intermediate_size</c>).</param>
/// <param name="OutputWidth">The merger's output, the language model's hidden size (<c>hidden_size</c> / <c>out_hidden_size</c>).</param>
/// <param name="PatchSize">Pixels per patch side (<c>patch_size</c>).</param>
/// <param name="TemporalPatchSize">Frames per patch (<c>temporal_patch_size</c>).</param>
/// <param name="InputChannels">Colour channels (<c>in_chans</c>/<c>in_channels</c>).</param>
/// <param name="SpatialMergeSize">Patches merged per side (<c>spatial_merge_size</c>).</param>
public sealed record VisionTower(
    VisionBlockKind Kind,
    int Depth,
    long Width,
    long MlpWidth,
    long OutputWidth,
    long PatchSize,
    long TemporalPatchSize,
    long InputChannels,
    long SpatialMergeSize)
{
    /// <summary>Every parameter of the tower, merger included.</summary>
    public long Parameters
    {
        get
        {
            long e = Width, m = MlpWidth;
            long patch = InputChannels * TemporalPatchSize * PatchSize * PatchSize * e;
            long attention = (3 * e * e) + (3 * e) + (e * e) + e;
            long block = Kind == VisionBlockKind.Qwen2VL
                ? (2 * 2 * e) + attention + (e * m) + m + (m * e) + e // two LayerNorms (weight and bias), fc1, fc2
                : (2 * e) + attention + (2 * ((e * m) + m)) + (m * e) + e; // two RMSNorms, gate and up, down
            long merged = e * SpatialMergeSize * SpatialMergeSize;
            long mergerNorm = Kind == VisionBlockKind.Qwen2VL ? 2 * e : e;
            long merger = mergerNorm + (merged * merged) + merged + (merged * OutputWidth) + OutputWidth;
            return patch + (Depth * block) + merger;
        }
    }
}
