using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using MeasureApp.History;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Export;

/// <summary>States of a prepared export.</summary>
public enum PreparedExportState
{
    /// <summary>The file is being written.</summary>
    Preparing,
    /// <summary>The file is complete and waits for its one download.</summary>
    Ready,
    /// <summary>Writing failed; see <see cref="PreparedExport.Error"/>.</summary>
    Failed,
    /// <summary>Cancelled, downloaded or expired: the file is gone.</summary>
    Gone,
}

/// <summary>
/// One export being written into a temporary file on a background task. The file is downloaded once
/// from <see cref="DownloadPath"/> by the user who prepared it, then deleted.
/// </summary>
public sealed class PreparedExport : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private long _rowsDone;

    internal PreparedExport(string token, string ownerId, ExportPlan plan, string filePath)
    {
        Token = token;
        OwnerId = ownerId;
        Plan = plan;
        FilePath = filePath;
    }

    /// <summary>Unguessable one-time token (the download address).</summary>
    public string Token { get; }

    /// <summary>User who prepared it; nobody else can download it.</summary>
    public string OwnerId { get; }

    /// <summary>What is exported.</summary>
    public ExportPlan Plan { get; }

    internal string FilePath { get; }

    /// <summary>When the file became ready; its <see cref="PreparedExports.Lifetime"/> counts from here.</summary>
    internal DateTimeOffset ReadyAt { get; set; }

    internal CancellationToken Cancellation => _cancel.Token;

    /// <summary>Current state.</summary>
    public PreparedExportState State { get; internal set; }

    /// <summary>Why it failed, when <see cref="State"/> is <see cref="PreparedExportState.Failed"/>.</summary>
    public string? Error { get; internal set; }

    /// <summary>Rows written so far.</summary>
    public long RowsDone => Interlocked.Read(ref _rowsDone);

    /// <summary>Size of the finished file in bytes (0 until ready).</summary>
    public long FileBytes { get; internal set; }

    /// <summary>Rows in the whole export.</summary>
    public long RowsTotal => Plan.Rows;

    /// <summary>Completes when the file is ready, failed or cancelled.</summary>
    public Task Completion { get; internal set; } = Task.CompletedTask;

    /// <summary>Relative address of the one download.</summary>
    public string DownloadPath => $"api/exports/{Token}";

    internal void Cancel()
    {
        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already finished and cleaned up.
        }
    }

    internal void AddRows(int rows) => Interlocked.Add(ref _rowsDone, rows);

    /// <summary>Releases the cancellation source (after the writing task finished).</summary>
    public void Dispose() => _cancel.Dispose();
}

/// <summary>Outcome of <see cref="PreparedExports.StartAsync"/>.</summary>
/// <param name="Export">The export being prepared, or null when refused.</param>
/// <param name="Error">Why it was refused.</param>
/// <param name="NotFound">True when the measurement is unknown or not the requester's.</param>
public sealed record PrepareResult(PreparedExport? Export, string? Error, bool NotFound = false);

/// <summary>
/// Prepares large exports into temporary files on background tasks so the page can show progress,
/// then hands each file out once through <c>GET /api/exports/{token}</c> to the user who asked for it.
/// Files are deleted after the download, on cancel, or when not fetched within <see cref="Lifetime"/>;
/// a user has at most <see cref="MaxPerUser"/> exports prepared or waiting at once.
/// </summary>
public sealed class PreparedExports : IDisposable
{
    /// <summary>Exports a user may have prepared or waiting for download at once.</summary>
    public const int MaxPerUser = 2;

    /// <summary>How long a file waits for its download.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);

    private readonly ConcurrentDictionary<string, PreparedExport> _exports = new(StringComparer.Ordinal);
    private readonly Lock _admission = new();
    private readonly MeasurementCatalog _catalog;
    private readonly IDbContextFactory<AppDbContext> _contexts;
    private readonly ISampleStore _store;
    private readonly ExportsInProgress _running;
    private readonly TimeProvider _time;
    private readonly ILogger<PreparedExports> _logger;
    private readonly string _directory;
    private readonly ITimer _sweeper;

    /// <summary>Creates the service; temporary files go to a private folder under the system temp path.</summary>
    private readonly MeasureApp.Audit.AuditLog? _audit;

    public PreparedExports(MeasurementCatalog catalog, IDbContextFactory<AppDbContext> contexts, ISampleStore store, ExportsInProgress running, TimeProvider time, ILogger<PreparedExports> logger, MeasureApp.Audit.AuditLog? audit = null)
    {
        _audit = audit;
        _catalog = catalog;
        _contexts = contexts;
        _store = store;
        _running = running;
        _time = time;
        _logger = logger;
        _directory = Path.Combine(Path.GetTempPath(), "measureapp-exports", Guid.NewGuid().ToString("N"));
        // The system temp folder is shared with every local user: the folder is 0700, files 0600.
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(_directory);
        }
        else
        {
            Directory.CreateDirectory(_directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        _sweeper = time.CreateTimer(_ => Sweep(), null, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    /// <summary>Exports of a user that are prepared or waiting.</summary>
    public int CountFor(string userId) => _exports.Values.Count(e => e.OwnerId == userId && e.State is PreparedExportState.Preparing or PreparedExportState.Ready);

    /// <summary>Checks an export like the download endpoint does and starts writing it into a temporary file.</summary>
    public async Task<PrepareResult> StartAsync(Requester requester, Guid measurementId, ExportRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        ArgumentNullException.ThrowIfNull(request);
        if (await _catalog.FindReadableAsync(requester, measurementId, cancellationToken) is not { } measurement)
        {
            return new(null, "Not found: this measurement does not exist or is not yours.", NotFound: true);
        }
        var planned = await ExportEndpoints.PlanAsync(request, measurement, _contexts, cancellationToken);
        if (planned.Error is { } error)
        {
            return new(null, error);
        }
        PreparedExport export;
        IDisposable? exporting;
        lock (_admission)
        {
            if (CountFor(requester.UserId) >= MaxPerUser)
            {
                return new(null, $"You already have {MaxPerUser} exports being prepared or waiting for download (at most {MaxPerUser} at once). Download or cancel one first.");
            }
            // While the file is written, a delete of the measurement is refused instead of cutting it short.
            exporting = _running.TryBeginExport(measurementId);
            if (exporting is null)
            {
                return new(null, "Not found: this measurement is being deleted.", NotFound: true);
            }
            var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
            export = new PreparedExport(token, requester.UserId, planned.Plan!, Path.Combine(_directory, token + ".part"));
            _exports[token] = export;
        }
        export.Completion = Task.Run(async () =>
        {
            using (exporting)
            {
                await WriteAsync(export);
            }
        }, CancellationToken.None);
        if (_audit is not null)
        {
            await _audit.WriteAsync(requester, MeasureApp.Audit.AuditActions.Export, measurement.Id, measurement.Name, detail: "prepared " + request.ToQuery());
        }
        return new(export, null);
    }

    /// <summary>Takes a ready export out for its one download: only its owner gets it, once.
    /// Returns null for an unknown, foreign, unfinished, used or expired token.</summary>
    public PreparedExport? Claim(string token, string userId)
    {
        if (!_exports.TryGetValue(token, out var export) || export.OwnerId != userId || export.State != PreparedExportState.Ready
            || _time.GetUtcNow() - export.ReadyAt > Lifetime || !_exports.TryRemove(new KeyValuePair<string, PreparedExport>(token, export)))
        {
            return null;
        }
        export.State = PreparedExportState.Gone;
        return export;
    }

    /// <summary>Stops a preparation, or deletes a file waiting for its download (the owner's only).</summary>
    public void Cancel(PreparedExport export, string userId)
    {
        ArgumentNullException.ThrowIfNull(export);
        if (export.OwnerId != userId)
        {
            return;
        }
        export.Cancel();
        if (export.State == PreparedExportState.Ready)
        {
            Discard(export, PreparedExportState.Gone, null);
            export.Dispose();
        }
    }

    /// <summary>Opens a claimed export's file; the file is deleted when the stream closes.</summary>
    public static FileStream OpenClaimed(PreparedExport export)
    {
        ArgumentNullException.ThrowIfNull(export);
        return new FileStream(export.FilePath, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16,
            FileOptions.Asynchronous | FileOptions.SequentialScan | FileOptions.DeleteOnClose);
    }

    private static FileStreamOptions PrivateFile
    {
        get
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 1 << 16, Options = FileOptions.Asynchronous };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }
            return options;
        }
    }

    /// <summary>Folder of the temporary files (for tests of its mode).</summary>
    internal string Folder => _directory;

    private async Task WriteAsync(PreparedExport export)
    {
        var ct = export.Cancellation;
        try
        {
            await using (var file = new FileStream(export.FilePath, PrivateFile))
            {
                var plan = export.Plan;
                var segments = Counted(plan.Complete(_store.ReadRawAsync(plan.Measurement.Id, plan.FromIndex, plan.ToIndex, plan.Channels, ct), ct), export, ct);
                if (plan.Format == ExportFormat.Csv)
                {
                    var pipe = PipeWriter.Create(file, new StreamPipeWriterOptions(leaveOpen: true));
                    await CsvExportWriter.WriteAsync(pipe, plan, segments, ct);
                    await pipe.CompleteAsync();
                }
                else
                {
                    await ParquetExportWriter.WriteAsync(file, plan, segments, ct);
                }
            }
            export.FileBytes = new FileInfo(export.FilePath).Length;
            export.ReadyAt = _time.GetUtcNow();
            export.State = PreparedExportState.Ready;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            Discard(export, PreparedExportState.Gone, null);
        }
#pragma warning disable CA1031 // a failed export is reported to its user, never crashes the server
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _logger.LogError(ex, "Preparing export {Token} of measurement {Measurement} failed", export.Token[..8], export.Plan.Measurement.Id);
            Discard(export, PreparedExportState.Failed, "The export failed on the server: " + ex.Message);
        }
        if (export.State != PreparedExportState.Ready)
        {
            export.Dispose();
        }
    }

    private static async IAsyncEnumerable<SampleSegment> Counted(IAsyncEnumerable<SampleSegment> segments, PreparedExport export, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var segment in segments.WithCancellation(ct))
        {
            yield return segment;
            export.AddRows(segment.Count);
        }
    }

    // Whoever removes the entry owns the file: a download that claimed it first keeps it until sent.
    private void Discard(PreparedExport export, PreparedExportState state, string? error)
    {
        if (!_exports.TryRemove(new KeyValuePair<string, PreparedExport>(export.Token, export)))
        {
            return;
        }
        export.Error = error;
        export.State = state;
        TryDelete(export.FilePath);
    }

    // Ready files nobody fetched, and cancelled ones, are deleted.
    private void Sweep()
    {
        var now = _time.GetUtcNow();
        foreach (var export in _exports.Values)
        {
            if (export.State == PreparedExportState.Ready && now - export.ReadyAt > Lifetime)
            {
                Discard(export, PreparedExportState.Gone, null);
                export.Dispose();
            }
        }
    }

    private void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException ex)
        {
            _logger.LogWarning(ex, "Could not delete the export file {Path}", path);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _sweeper.Dispose();
        foreach (var export in _exports.Values)
        {
            export.Cancel();
        }
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException ex)
        {
            _logger.LogWarning(ex, "Could not delete the export folder {Path}", _directory);
        }
    }
}
