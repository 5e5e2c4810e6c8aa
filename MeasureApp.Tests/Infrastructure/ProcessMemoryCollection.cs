namespace MeasureApp.Tests.Infrastructure;

/// <summary>
/// Tests that bound the process's live managed memory (GC.GetTotalMemory) run alone: allocations of
/// tests running in parallel would otherwise be counted against them.
/// </summary>
[CollectionDefinition(nameof(ProcessMemoryCollection), DisableParallelization = true)]
public sealed class ProcessMemoryCollection;
