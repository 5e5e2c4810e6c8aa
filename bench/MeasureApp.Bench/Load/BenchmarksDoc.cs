namespace MeasureApp.Bench.Load;

/// <summary>
/// Keeps one generated section per load run in docs/benchmarks.md between HTML comment markers,
/// so re-running a scenario with <c>--write</c> replaces its numbers and leaves the prose alone.
/// </summary>
public static class BenchmarksDoc
{
    /// <summary>Replaces (or appends) the section called <paramref name="key"/>.</summary>
    public static void UpdateSection(string path, string key, string markdown)
    {
        ArgumentNullException.ThrowIfNull(markdown);
        var begin = $"<!-- load:{key}:begin -->";
        var end = $"<!-- load:{key}:end -->";
        var block = $"{begin}\n{markdown.TrimEnd()}\n{end}";
        var text = File.Exists(path) ? File.ReadAllText(path) : "# Benchmarks\n";
        var b = text.IndexOf(begin, StringComparison.Ordinal);
        var e = text.IndexOf(end, StringComparison.Ordinal);
        text = b >= 0 && e > b
            ? string.Concat(text.AsSpan(0, b), block, text.AsSpan(e + end.Length))
            : text.TrimEnd() + "\n\n" + block + "\n";
        File.WriteAllText(path, text);
    }

    /// <summary>docs/benchmarks.md of the repository containing the working directory (found by MeasureApp.sln).</summary>
    public static string DefaultPath()
    {
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MeasureApp.sln")))
            {
                return Path.Combine(dir.FullName, "docs", "benchmarks.md");
            }
        }
        throw new InvalidOperationException("Run from inside the repository (no MeasureApp.sln above the working directory), or pass --doc <path>.");
    }
}
