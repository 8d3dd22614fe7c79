using System.Text.Json;

namespace Gputel.Core.Estimation;

/// <summary>
/// The <c>quantization_config</c> of a Hugging Face config.json: a checkpoint saved quantized by
/// bitsandbytes says so there, and loading it gives quantized weights whatever the command line asked.
/// </summary>
/// <param name="Quantization">4-bit or 8-bit.</param>
/// <param name="DoubleQuantization">For 4-bit: <c>bnb_4bit_use_double_quant</c>.</param>
/// <param name="Description">What the file says, for the output (e.g. <c>bitsandbytes nf4, double quantization</c>).</param>
public sealed record QuantizationConfig(WeightQuantization Quantization, bool DoubleQuantization, string Description)
{
    /// <summary>
    /// Reads <paramref name="configPath"/>'s <c>quantization_config</c>; null when it has none (or
    /// one that quantizes nothing).
    /// </summary>
    /// <exception cref="InvalidDataException">
    /// The section names a method other than bitsandbytes (gptq, awq, fp8...), which the estimator
    /// does not model, or is malformed; the message names the file and the method.
    /// </exception>
    public static QuantizationConfig? Read(string configPath)
    {
        ArgumentNullException.ThrowIfNull(configPath);
        using FileStream stream = File.OpenRead(configPath);
        using JsonDocument document = JsonDocument.Parse(stream);
        if (document.RootElement.ValueKind != JsonValueKind.Object
            || !document.RootElement.TryGetProperty("quantization_config", out JsonElement q)
            || q.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (q.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"{configPath}: field 'quantization_config' is not an object.");
        }

        string method = q.TryGetProperty("quant_method", out JsonElement m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "bitsandbytes";
        if (method != "bitsandbytes")
        {
            throw new InvalidDataException($"{configPath}: quantization_config.quant_method '{method}' is not modelled (only bitsandbytes 4-bit and 8-bit are)");
        }

        bool Flag(string name) => q.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.True;
        if (Flag("load_in_4bit"))
        {
            string type = q.TryGetProperty("bnb_4bit_quant_type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "fp4";
            bool dq = Flag("bnb_4bit_use_double_quant");
            // NF4 and FP4 both store half a byte per weight with the same blocks and constants.
            return new QuantizationConfig(WeightQuantization.FourBit, dq, $"bitsandbytes 4-bit {type}{(dq ? ", double quantization" : string.Empty)}");
        }

        return Flag("load_in_8bit") ? new QuantizationConfig(WeightQuantization.EightBit, false, "bitsandbytes 8-bit (LLM.int8)") : null;
    }
}
