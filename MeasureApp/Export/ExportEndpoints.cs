using MeasureApp.Acquisition.Blocks;
using System.Globalization;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using MeasureApp.History;
using MeasureApp.Identity;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.Net.Http.Headers;

namespace MeasureApp.Export;

/// <summary>
/// <c>GET /api/measurements/{id}/export?format=csv|parquet&amp;channels=0,2&amp;from=s&amp;to=s&amp;time=iso|seconds</c>
/// (Parquet also <c>&amp;timeUnit=ns|us&amp;compression=none|snappy|zstd</c>):
/// a streamed download of stored raw data. Ownership goes through <see cref="MeasurementCatalog"/>, so
/// another user's id answers exactly like an unknown one.
/// </summary>
public static class ExportEndpoints
{
    /// <summary>Maps the export endpoint.</summary>
    public static IEndpointRouteBuilder MapExportEndpoints(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/api/measurements/{id:guid}/export", ExportAsync).RequireAuthorization();
        app.MapGet("/api/exports/{token}", DownloadPreparedAsync).RequireAuthorization();
        return app;
    }

    // The one download of a prepared export: its owner only, once; anything else is "not found".
    private static async Task DownloadPreparedAsync(string token, HttpContext http, PreparedExports exports)
    {
        if (CurrentUser.FromPrincipal(http.User) is not { } requester)
        {
            await Results.Unauthorized().ExecuteAsync(http);
            return;
        }
        if (exports.Claim(token, requester.UserId) is not { } export)
        {
            await Results.Problem(title: "Export not found", detail: "This download does not exist, was already used or has expired.", statusCode: StatusCodes.Status404NotFound).ExecuteAsync(http);
            return;
        }
        using var claimed = export;
        await using var file = PreparedExports.OpenClaimed(export);
        var response = http.Response;
        response.ContentType = export.Plan.Format == ExportFormat.Csv ? "text/csv; charset=utf-8" : "application/vnd.apache.parquet";
        response.ContentLength = file.Length;
        response.Headers.CacheControl = "no-store";
        response.Headers.ContentDisposition = new ContentDispositionHeaderValue("attachment") { FileName = export.Plan.FileName() }.ToString();
        response.Headers.XContentTypeOptions = "nosniff";
        try
        {
            await file.CopyToAsync(response.Body, http.RequestAborted);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away; the file is deleted all the same.
        }
    }

    private static async Task ExportAsync(Guid id, HttpContext http, MeasurementCatalog catalog, IDbContextFactory<AppDbContext> contexts, ISampleStore store, MeasureApp.Limits.ExportSlots gate, MeasureApp.Limits.LimitsService limits, ExportsInProgress running)
    {
        var ct = http.RequestAborted;
        if (CurrentUser.FromPrincipal(http.User) is not { } requester)
        {
            await Results.Unauthorized().ExecuteAsync(http);
            return;
        }
        if (await catalog.FindReadableAsync(requester, id, ct) is not { } measurement)
        {
            await Results.Problem(title: "Measurement not found", detail: "No measurement with this id.", statusCode: StatusCodes.Status404NotFound).ExecuteAsync(http);
            return;
        }
        if (!ExportRequest.TryParse(http.Request.Query, out var request, out var refused))
        {
            await Results.Problem(title: "Bad export request", detail: refused, statusCode: StatusCodes.Status400BadRequest).ExecuteAsync(http);
            return;
        }
        var plan = await PlanAsync(request, measurement, contexts, ct);
        if (plan.Error is { } error)
        {
            await Results.Problem(title: "Bad export request", detail: error, statusCode: StatusCodes.Status400BadRequest).ExecuteAsync(http);
            return;
        }
        var export = plan.Plan!;
        var max = (await limits.GetAsync(requester.UserId, ct)).MaxConcurrentExports;
        // Audited once the request is valid: who read which measurement's data out, in what form.
        if (http.RequestServices.GetService<MeasureApp.Audit.AuditLog>() is { } audit)
        {
            await audit.WriteAsync(requester, MeasureApp.Audit.AuditActions.Export, measurement.Id, measurement.Name, detail: "download " + http.Request.QueryString.Value);
        }
        await using var lease = await gate.TryEnterAsync(requester.UserId, max);
        if (lease is null)
        {
            await Results.Problem(title: "Too many exports",
                detail: $"You are downloading {max} of {max} allowed exports at once. Wait until one finishes.",
                statusCode: StatusCodes.Status429TooManyRequests).ExecuteAsync(http);
            return;
        }
        // While the body is written, a delete of this measurement is refused (409) instead of cutting it short.
        using var exporting = running.TryBeginExport(measurement.Id);
        if (exporting is null)
        {
            await Results.Problem(title: "Measurement not found", detail: "This measurement is being deleted.", statusCode: StatusCodes.Status404NotFound).ExecuteAsync(http);
            return;
        }

        // The body is produced while it is sent: nothing may buffer it on the way.
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var response = http.Response;
        response.ContentType = export.Format == ExportFormat.Csv ? "text/csv; charset=utf-8" : "application/vnd.apache.parquet";
        response.Headers.CacheControl = "no-store";
        response.Headers.ContentDisposition = new ContentDispositionHeaderValue("attachment") { FileName = export.FileName() }.ToString();
        response.Headers.XContentTypeOptions = "nosniff";
        var segments = export.Complete(store.ReadRawAsync(measurement.Id, export.FromIndex, export.ToIndex, export.Channels, ct), ct);
        try
        {
            if (export.Format == ExportFormat.Csv)
            {
                await CsvExportWriter.WriteAsync(response.BodyWriter, export, segments, ct);
            }
            else
            {
                await ParquetExportWriter.WriteAsync(response.Body, export, segments, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away; there is nobody left to answer.
        }
        catch (ExportIncompleteException ex)
        {
            // The status line (200) is gone already: abort the connection so the client sees a failed
            // download, never a shorter file that looks whole.
            http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ExportEndpoints))
                .LogWarning("Export of measurement {Measurement} aborted: {Reason}", measurement.Id, ex.Message);
            http.Abort();
        }
    }

    internal sealed record PlanResult(ExportPlan? Plan, string? Error);

    /// <summary>Checks an export request against the measurement's stored data and plans what to read.</summary>
    internal static async Task<PlanResult> PlanAsync(ExportRequest request, MeasurementRecord measurement, IDbContextFactory<AppDbContext> contexts, CancellationToken ct)
    {
        static PlanResult Bad(string message) => new(null, message);

        var (format, time, unit, compression, from, to) = (request.Format, request.Time, request.TimeUnit, request.Compression, request.From, request.To);
        if (format == ExportFormat.Csv && (unit != ExportTimeUnit.Nanoseconds || compression != ExportCompression.None))
        {
            return Bad("timeUnit and compression apply to Parquet only (format=parquet).");
        }
        foreach (var (name, value) in (ReadOnlySpan<(string, double?)>)[("from", from), ("to", to)])
        {
            if (value is { } v && (!double.IsFinite(v) || v < 0))
            {
                return Bad(double.IsFinite(v) ? $"{name} is negative: the range lies outside the data." : $"{name} is not a number of seconds.");
            }
        }

        await using var db = await contexts.CreateDbContextAsync(ct);
        var chunks = db.Set<SampleChunkRecord>().AsNoTracking().Where(c => c.MeasurementId == measurement.Id);
        var last = await chunks.OrderByDescending(c => c.Sequence)
            .Select(c => new { End = c.FirstSampleIndex + c.SampleCount, c.ChannelCount }).FirstOrDefaultAsync(ct);
        var first = await chunks.OrderBy(c => c.Sequence).Select(c => new { c.FirstSampleIndex, c.T0Ns }).FirstOrDefaultAsync(ct);
        var endIndex = last?.End ?? 0;
        var channelCount = last?.ChannelCount ?? measurement.ChannelCount;
        var rate = measurement.SampleRate;
        var startNs = first is null || rate <= 0
            ? measurement.StartedAt.ToUnixTimeMilliseconds() * 1_000_000
            : first.T0Ns - SampleTime.OffsetNs(first.FirstSampleIndex, rate);

        List<int> channels = [];
        if (request.Channels is not { Count: > 0 } asked)
        {
            channels.AddRange(Enumerable.Range(0, channelCount));
        }
        else
        {
            foreach (var c in asked)
            {
                if (c < 0 || c >= channelCount)
                {
                    return Bad($"Unknown channel {c}: the measurement has channels 0–{channelCount - 1}.");
                }
                if (channels.Contains(c))
                {
                    return Bad($"Channel {c} is listed twice.");
                }
                channels.Add(c);
            }
        }

        long fromIndex = 0;
        var toIndex = endIndex;
        if (from is not null || to is not null)
        {
            if (rate <= 0 || endIndex == 0)
            {
                return Bad("The measurement has no stored data, so no time range can be exported.");
            }
            var duration = endIndex / rate;
            if (from is { } f && to is { } t && f > t)
            {
                return Bad($"from ({f.ToString(CultureInfo.InvariantCulture)} s) is after to ({t.ToString(CultureInfo.InvariantCulture)} s).");
            }
            // Seconds count from the first sample. Bounds are times, mapped through the stored chunks, so
            // a range means the same after a gap; a sample whose exported time equals a bound is included.
            const double MaxSeconds = 1e9;
            if (from > MaxSeconds)
            {
                return Bad(string.Create(CultureInfo.InvariantCulture, $"The range lies outside the data: the measurement holds 0–{duration} s."));
            }
            fromIndex = from is { } f2 ? await SampleTimeline.FirstAtOrAfterAsync(chunks, rate, startNs + SampleTimeline.NsOf(f2), ct) : 0;
            if (to is { } t2)
            {
                toIndex = t2 > MaxSeconds ? endIndex : await SampleTimeline.EndAtOrBeforeAsync(chunks, rate, startNs + SampleTimeline.NsOf(t2), ct);
            }
            if (fromIndex >= endIndex || toIndex <= 0)
            {
                return Bad(string.Create(CultureInfo.InvariantCulture, $"The range lies outside the data: the measurement holds 0–{duration} s."));
            }
            if (fromIndex >= toIndex)
            {
                return Bad("The range holds no sample.");
            }
        }

        return new(new ExportPlan
        {
            Measurement = measurement,
            AllChannels = ExportPlan.ParseChannels(measurement),
            Channels = channels,
            FromIndex = fromIndex,
            ToIndex = toIndex,
            StartNs = startNs,
            Format = format,
            Time = time,
            TimeUnit = unit,
            Compression = compression,
        }, null);
    }
}
