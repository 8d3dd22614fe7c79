namespace Gputel.Tests.Support;

/// <summary>One data point of one metric, as decoded from an OTLP export.</summary>
internal sealed record OtlpPoint(
    string Metric, string Unit, string Type, bool Monotonic, double Value,
    IReadOnlyDictionary<string, object> Attributes, IReadOnlyDictionary<string, object> Resource, string Scope);

/// <summary>One span, as decoded from an OTLP export.</summary>
internal sealed record OtlpSpan(
    string Name, string TraceId, string SpanId, string ParentSpanId, IReadOnlyDictionary<string, object> Attributes, string Scope);

/// <summary>
/// Decodes <c>ExportMetricsServiceRequest</c> and <c>ExportTraceServiceRequest</c> bodies by the field
/// numbers of the public opentelemetry-proto files (metrics/v1, trace/v1, common/v1, resource/v1).
/// </summary>
internal static class Otlp
{
    public static List<OtlpPoint> DecodeMetrics(ReadOnlyMemory<byte> request)
    {
        var points = new List<OtlpPoint>();
        foreach (var rm in Sub(request, 1)) // ResourceMetrics
        {
            Dictionary<string, object> resource = Sub(rm, 1).Select(r => Attributes(r, 1)).FirstOrDefault() ?? [];
            foreach (var sm in Sub(rm, 2)) // ScopeMetrics
            {
                string scope = Sub(sm, 1).Select(s => String(s, 1)).FirstOrDefault() ?? string.Empty;
                foreach (var metric in Sub(sm, 2))
                {
                    string name = String(metric, 1), unit = String(metric, 3);
                    foreach (var gauge in Sub(metric, 5))
                    {
                        points.AddRange(Sub(gauge, 1).Select(p => Number(name, unit, "gauge", false, p, resource, scope)));
                    }

                    foreach (var sum in Sub(metric, 7))
                    {
                        bool monotonic = WireReader.Fields(sum).Any(f => f.Field == 3 && f.Number == 1);
                        points.AddRange(Sub(sum, 1).Select(p => Number(name, unit, "sum", monotonic, p, resource, scope)));
                    }

                    foreach (var histogram in Sub(metric, 9))
                    {
                        // HistogramDataPoint: attributes 9, count 4 (fixed64); the count is the value kept.
                        points.AddRange(Sub(histogram, 1).Select(p => new OtlpPoint(
                            name, unit, "histogram", false, WireReader.Fields(p).Where(f => f.Field == 4).Select(f => (double)f.Number).FirstOrDefault(),
                            Attributes(p, 9), resource, scope)));
                    }
                }
            }
        }

        return points;
    }

    public static List<OtlpSpan> DecodeTraces(ReadOnlyMemory<byte> request)
    {
        var spans = new List<OtlpSpan>();
        foreach (var rs in Sub(request, 1)) // ResourceSpans
        {
            foreach (var ss in Sub(rs, 2)) // ScopeSpans
            {
                string scope = Sub(ss, 1).Select(s => String(s, 1)).FirstOrDefault() ?? string.Empty;
                spans.AddRange(Sub(ss, 2).Select(span => new OtlpSpan(
                    String(span, 5), Hex(span, 1), Hex(span, 2), Hex(span, 4), Attributes(span, 9), scope)));
            }
        }

        return spans;
    }

    // NumberDataPoint: attributes 7, as_double 4 (double), as_int 6 (sfixed64).
    private static OtlpPoint Number(string name, string unit, string type, bool monotonic, ReadOnlyMemory<byte> point, Dictionary<string, object> resource, string scope)
    {
        double value = double.NaN;
        foreach (var f in WireReader.Fields(point))
        {
            value = f.Field switch
            {
                4 => WireReader.Double(f.Number),
                6 => (long)f.Number,
                _ => value,
            };
        }

        return new OtlpPoint(name, unit, type, monotonic, value, Attributes(point, 7), resource, scope);
    }

    // KeyValue: key 1, value 2; AnyValue: string 1, bool 2, int 3, double 4.
    private static Dictionary<string, object> Attributes(ReadOnlyMemory<byte> message, int field)
    {
        var result = new Dictionary<string, object>();
        foreach (var kv in Sub(message, field))
        {
            string key = String(kv, 1);
            foreach (var any in WireReader.Fields(Sub(kv, 2).FirstOrDefault()))
            {
                result[key] = any.Field switch
                {
                    1 => WireReader.Text(any.Bytes),
                    2 => any.Number != 0,
                    3 => (long)any.Number,
                    4 => WireReader.Double(any.Number),
                    _ => "?",
                };
            }
        }

        return result;
    }

    private static IEnumerable<ReadOnlyMemory<byte>> Sub(ReadOnlyMemory<byte> message, int field) =>
        WireReader.Fields(message).Where(f => f.Field == field && f.Wire == 2).Select(f => f.Bytes);

    private static string String(ReadOnlyMemory<byte> message, int field) =>
        Sub(message, field).Select(WireReader.Text).LastOrDefault() ?? string.Empty;

    private static string Hex(ReadOnlyMemory<byte> message, int field) =>
        Convert.ToHexStringLower(Sub(message, field).LastOrDefault().Span);
}
