using System.Runtime.InteropServices;
using Gputel.Core.Estimation;
using Gputel.Core.Memory;
using Gputel.Profiler.Training;
using static TorchSharp.torch;

namespace Gputel.Profiler.Estimation;

/// <summary>
/// Measures libtorch's CPU runtime memory for a configuration by running it, one layer deep, for three
/// steps through the profiled training loop. On the CPU that memory is mostly the math libraries'
/// buffers (MKL's GEMM packing buffers for fp32, oneDNN's for bf16), sized by the matrix products'
/// shapes and the thread count and kept by the libraries for reuse: 4.7 to 17 MiB on the test shapes,
/// no constant fits it, and every layer runs the same products, so one layer shows it. The probe
/// counts libtorch's one-time set-up only in a process where libtorch has not run yet, as in
/// <c>gputel estimate</c>.
/// </summary>
public static class CpuRuntimeProbe
{
    /// <summary>The largest one-layer run the probe will make (its own estimated peak).</summary>
    public const long MaxProbeBytes = 1L << 30;

    /// <summary>
    /// Runs the probe for <paramref name="request"/>, or returns null with <paramref name="reason"/>
    /// when it should not run here (a GPU estimate, or a one-layer run larger than <see cref="MaxProbeBytes"/>).
    /// </summary>
    public static RuntimeMeasurement? TryMeasure(EstimateRequest request, out string? reason)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!request.Device.IsCpu)
        {
            reason = "the probe measures the CPU runtime only";
            return null;
        }

        if (request.Attention != "sdpa")
        {
            reason = "the reference model computes attention with sdpa only, so it cannot run an eager configuration";
            return null;
        }

        EstimateRequest oneLayer = request with
        {
            Shape = request.Shape with { Layers = 1 },
            TrainableLayers = Math.Min(request.TrainableLayers, 1),
            Gpus = 1,
            ZeroStage = 0,
        };
        long probePeak = MemoryEstimator.Estimate(oneLayer).PeakBytes;
        if (probePeak > MaxProbeBytes)
        {
            reason = $"a one-layer run of this shape would need {probePeak / (1024.0 * 1024 * 1024):0.0} GiB (the probe stops at {MaxProbeBytes >> 30} GiB)";
            return null;
        }

        string directory = Path.Combine(Path.GetTempPath(), $"gputel-runtime-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            var options = new FineTuneOptions(oneLayer.Shape, directory)
            {
                ModelName = request.ModelName,
                Method = request.Method,
                TrainableLayers = oneLayer.TrainableLayers,
                Lora = request.Lora,
                Optimizer = request.Optimizer,
                Dtype = request.DtypeBytes == 2 ? ScalarType.BFloat16 : ScalarType.Float32,
                BatchSize = request.BatchSize,
                CutoffLength = request.CutoffLength,
                GradientCheckpointing = request.GradientCheckpointing,
                // The runtime settles after the first two steps (FineTuneRun); the third step's
                // figures carry the settled value.
                Steps = 3,
                RunId = "runtime-probe",
            };
            IReadOnlyList<MemorySnapshot> snapshots = FineTuneRun.Run(options);
            reason = null;
            return new RuntimeMeasurement(
                snapshots[^1][MemoryCategory.Runtime],
                $"measured on this machine: one layer of this shape, 3 steps (libtorch's set-up and the math libraries' buffers for these matrix shapes, {Environment.ProcessorCount} CPUs)");
        }
        catch (Exception e) when (e is ExternalException or InvalidOperationException or ArgumentException or OutOfMemoryException or IOException)
        {
            // libtorch refusing the configuration (nothing to train, say) or the machine lacking the
            // memory: the estimate goes on with the typical figure.
            reason = $"the one-layer run failed: {e.Message.Split('\n')[0].Trim()}";
            return null;
        }
        finally
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A temporary record left behind is harmless.
            }
        }
    }
}
