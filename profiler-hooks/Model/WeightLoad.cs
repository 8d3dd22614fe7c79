using static TorchSharp.torch;

namespace Gputel.Profiler.Model;

/// <summary>What <see cref="DecoderModel.LoadWeights"/> copied into the model.</summary>
/// <param name="Copied">Parameters copied.</param>
/// <param name="ConvertedFrom">
/// The checkpoint's floating-point dtypes that differed from the model's and were converted while
/// copying, in the order met; empty when every tensor already had the model's dtype.
/// </param>
public sealed record WeightLoad(int Copied, IReadOnlyList<ScalarType> ConvertedFrom);
