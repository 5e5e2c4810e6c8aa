using System.Globalization;
using System.Text;

namespace MeasureApp.Bench.Load;

/// <summary>One figure of a load run, optionally beside a goal or a same-run baseline.</summary>
/// <param name="Name">What was measured.</param>
/// <param name="Value">The number.</param>
/// <param name="Unit">Unit of <paramref name="Value"/>.</param>
/// <param name="Reference">Goal or baseline as text (e.g. "goal ≥ 20 M"), if any.</param>
/// <param name="Verdict">"met", "missed by 12 %", a ratio, … (empty when there is no reference).</param>
public sealed record LoadMetric(string Name, double Value, string Unit, string Reference = "", string Verdict = "");

/// <summary>Result of a load scenario: a table of figures plus notes, printable as text and Markdown.</summary>
public sealed class LoadReport(string scenario, string sectionKey, string title)
{
    /// <summary>Scenario name.</summary>
    public string Scenario { get; } = scenario;

    /// <summary>Key of the docs/benchmarks.md section this run updates with <c>--write</c>.</summary>
    public string SectionKey { get; } = sectionKey;

    /// <summary>Heading of the section.</summary>
    public string Title { get; } = title;

    /// <summary>The command line that produced the report.</summary>
    public string Command { get; set; } = "";

    /// <summary>Figures in display order.</summary>
    public List<LoadMetric> Metrics { get; } = [];

    /// <summary>Settings and observations that explain the figures.</summary>
    public List<string> Notes { get; } = [];

    /// <summary>Adds a figure.</summary>
    public LoadReport Add(string name, double value, string unit, string reference = "", string verdict = "")
    {
        Metrics.Add(new LoadMetric(name, value, unit, reference, verdict));
        return this;
    }

    /// <summary>Fixed-width table for the console.</summary>
    public string ToText()
    {
        var rows = Metrics.Select(m => (m.Name, Value: Format(m.Value), m.Unit, m.Reference, m.Verdict)).ToList();
        var w0 = Math.Max(6, rows.Max(r => r.Name.Length));
        var w1 = Math.Max(5, rows.Max(r => r.Value.Length));
        var w2 = Math.Max(4, rows.Max(r => r.Unit.Length));
        var w3 = Math.Max(9, rows.Max(r => r.Reference.Length));
        var sb = new StringBuilder();
        sb.AppendLine(Title);
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"Metric".PadRight(w0)}  {"Value".PadLeft(w1)}  {"Unit".PadRight(w2)}  {"Reference".PadRight(w3)}  Verdict");
        sb.AppendLine(new string('-', w0 + w1 + w2 + w3 + 16));
        foreach (var r in rows)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"{r.Name.PadRight(w0)}  {r.Value.PadLeft(w1)}  {r.Unit.PadRight(w2)}  {r.Reference.PadRight(w3)}  {r.Verdict}");
        }
        foreach (var note in Notes)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"- {note}");
        }
        return sb.ToString();
    }

    /// <summary>The section written into docs/benchmarks.md.</summary>
    public string ToMarkdown(DateTimeOffset when)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"### {Title}");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Run {when:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} cores: `{Command}`");
        sb.AppendLine();
        sb.AppendLine("| Metric | Value | Unit | Reference | Verdict |");
        sb.AppendLine("|---|---:|---|---|---|");
        foreach (var m in Metrics)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {m.Name} | {Format(m.Value)} | {m.Unit} | {m.Reference} | {m.Verdict} |");
        }
        if (Notes.Count > 0)
        {
            sb.AppendLine();
            foreach (var note in Notes)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"- {note}");
            }
        }
        return sb.ToString();
    }

    private static string Format(double value) => Math.Abs(value) switch
    {
        >= 1e6 => (value / 1e6).ToString("F2", CultureInfo.InvariantCulture) + " M",
        >= 100 => value.ToString("F0", CultureInfo.InvariantCulture),
        >= 1 => value.ToString("F2", CultureInfo.InvariantCulture),
        _ => value.ToString("G3", CultureInfo.InvariantCulture),
    };
}
