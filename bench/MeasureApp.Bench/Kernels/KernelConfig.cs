using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace MeasureApp.Bench.Kernels;

/// <summary>Adds the throughput column and allocation counts to kernel benchmarks.</summary>
public sealed class KernelConfig : ManualConfig
{
    /// <summary>Creates the config.</summary>
    public KernelConfig()
    {
        AddColumn(new SamplesPerSecondColumn());
        AddDiagnoser(MemoryDiagnoser.Default);
    }
}

/// <summary>
/// Throughput in billions of float32 samples per second: the benchmark's <c>Size</c> parameter
/// divided by its mean time. Benchmarks are single-threaded, so this is per core.
/// </summary>
public sealed class SamplesPerSecondColumn : IColumn
{
    /// <inheritdoc />
    public string Id => nameof(SamplesPerSecondColumn);

    /// <inheritdoc />
    public string ColumnName => "G samples/s";

    /// <inheritdoc />
    public bool AlwaysShow => true;

    /// <inheritdoc />
    public ColumnCategory Category => ColumnCategory.Custom;

    /// <inheritdoc />
    public int PriorityInCategory => 0;

    /// <inheritdoc />
    public bool IsNumeric => true;

    /// <inheritdoc />
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc />
    public string Legend => "float32 samples per second on one core, in billions (Size / Mean)";

    /// <inheritdoc />
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    /// <inheritdoc />
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        ArgumentNullException.ThrowIfNull(summary);
        ArgumentNullException.ThrowIfNull(benchmarkCase);
        var meanNs = summary[benchmarkCase]?.ResultStatistics?.Mean;
        var size = benchmarkCase.Parameters.Items.FirstOrDefault(p => p.Name == "Size")?.Value as int?;
        if (meanNs is not > 0 || size is null)
        {
            return "NA";
        }
        // Samples per nanosecond equals billions of samples per second.
        return (size.Value / meanNs.Value).ToString("F2", CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    public bool IsAvailable(Summary summary) => true;

    /// <inheritdoc />
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
}
