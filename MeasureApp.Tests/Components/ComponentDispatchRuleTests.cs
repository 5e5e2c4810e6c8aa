using System.Text.RegularExpressions;
using MeasureApp.Tests.Acquisition.SharedMemory;

namespace MeasureApp.Tests.Components;

/// <summary>
/// Work that reaches a component from outside the renderer (a service event, a timer) goes through
/// <c>DispatchingComponentBase.Dispatch</c> / <c>ComponentDispatch.Run</c>, so its failure reaches the
/// page's error boundary. A discarded <c>InvokeAsync</c> task loses it.
/// </summary>
public sealed partial class ComponentDispatchRuleTests
{
    [Fact]
    public void NoComponentDiscardsTheTaskOfInvokeAsync()
    {
        var root = Path.Combine(SharedMemoryLayoutTests.RepositoryRoot(), "MeasureApp");
        var offenders = Directory.EnumerateFiles(root, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".razor", StringComparison.Ordinal) || f.EndsWith(".razor.cs", StringComparison.Ordinal))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (File: Path.GetRelativePath(root, f), Line: i + 1, Text: line)))
            .Where(l => DiscardedInvoke().IsMatch(l.Text))
            .Select(l => $"{l.File}:{l.Line}: {l.Text.Trim()}")
            .ToList();

        Assert.Empty(offenders);
    }

    [GeneratedRegex(@"_\s*=\s*InvokeAsync\s*\(")]
    private static partial Regex DiscardedInvoke();
}
