using System.Data.Common;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Storage;

namespace MeasureApp.Analysis;

/// <summary>Where the background rebuild of pyramid sums stands (shown on the Monitor page).</summary>
public sealed class SumsRebuildProgress
{
    private readonly Lock _gate = new();

    /// <summary>Raised after every change (from the background service's thread).</summary>
    public event Action? Changed;

    /// <summary>Rows that had no sums when the current pass started.</summary>
    public long Total { get; private set; }

    /// <summary>Rows given their sums in the current pass.</summary>
    public long Done { get; private set; }

    /// <summary>True once a pass found nothing left to rebuild.</summary>
    public bool Complete { get; private set; }

    /// <summary>The last error (the service retries), null when the last attempt worked.</summary>
    public string? LastError { get; private set; }

    /// <summary>Errors since start.</summary>
    public long Errors { get; private set; }

    /// <summary>Fraction done, 0–1.</summary>
    public double Fraction => Complete || Total == 0 ? 1 : Math.Min(1, (double)Done / Total);

    internal void Start(long total) => Update(() => (Total, Done, Complete, LastError) = (total, 0, total == 0, null));

    internal void Add(long rows) => Update(() => (Done, LastError) = (Done + rows, null));

    internal void Finish() => Update(() => (Done, Complete) = (Total, true));

    internal void Fail(string error) => Update(() => (LastError, Errors) = (error, Errors + 1));

    private void Update(Action change)
    {
        lock (_gate)
        {
            change();
        }
        Changed?.Invoke();
    }
}

/// <summary>
/// Gives pyramid rows stored before the statistics sums existed their sums, from the raw chunks (chunk rows)
/// and then from their members (group rows), in small batches, and checks again every few minutes (a
/// measurement that was running across the upgrade keeps grouping old rows). Statistics are exact meanwhile:
/// the store reads raw data wherever a row has no sums yet.
/// </summary>
public sealed class SumsRebuildService(ISampleStore store, SumsRebuildProgress progress, TimeProvider time, ILogger<SumsRebuildService> logger) : BackgroundService
{
    private const int BatchRows = 64;
    private static readonly TimeSpan RecheckInterval = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(30);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (store is not DbSampleStore db)
        {
            progress.Start(0);
            return;
        }
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var pending = await db.CountRowsWithoutSumsAsync(stoppingToken);
                progress.Start(pending);
                if (pending > 0)
                {
                    logger.LogInformation("Rebuilding statistics sums of {Rows} pyramid rows stored before they existed.", pending);
                }
                int rows;
                while (pending > 0 && (rows = await db.RebuildSumsAsync(BatchRows, stoppingToken)) > 0)
                {
                    progress.Add(rows);
                }
                progress.Finish();
                await Task.Delay(RecheckInterval, time, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is DbException or InvalidOperationException or TimeoutException or InvalidDataException)
            {
                logger.LogWarning(ex, "Rebuilding statistics sums failed; retrying in {Seconds} s.", RetryInterval.TotalSeconds);
                progress.Fail(ex.Message);
                await Task.Delay(RetryInterval, time, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }
}
