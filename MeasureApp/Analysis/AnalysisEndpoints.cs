using MeasureApp.Acquisition.Storage;
using MeasureApp.Identity;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MeasureApp.Analysis;

/// <summary>Statistics of one channel as the API returns it (null values for a range without samples).</summary>
public sealed record ChannelStatsResource(int Channel, long Count, double? Min, double? Max, double? Mean, double? Rms, double? Std, double? PeakToPeak)
{
    /// <summary>From the store's answer.</summary>
    public static ChannelStatsResource From(ChannelStatistics s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return s.Count == 0
            ? new ChannelStatsResource(s.Channel, 0, null, null, null, null, null, null)
            : new ChannelStatsResource(s.Channel, s.Count, s.Min, s.Max, s.Mean, s.Rms, s.Std, s.PeakToPeak);
    }
}

/// <summary>Answer of <c>GET /api/measurements/{id}/stats</c>.</summary>
/// <param name="Channels">Per requested channel.</param>
/// <param name="FromSeconds">Time of the first sample covered, seconds since the first sample.</param>
/// <param name="ToSeconds">Time of the last sample covered.</param>
/// <param name="SummaryRowsRead">Pyramid rows whose sums were used.</param>
/// <param name="RawSamplesRead">Raw samples per channel read (the partial chunks at the ends).</param>
public sealed record StatsResource(IReadOnlyList<ChannelStatsResource> Channels, double FromSeconds, double ToSeconds, long SummaryRowsRead, long RawSamplesRead);

/// <summary>
/// Answer of <c>GET /api/measurements/{id}/spectrum</c>. <see cref="FromSeconds"/>–<see cref="ToSeconds"/> are the
/// times of the first and last sample transformed: the whole span, or with <see cref="Gaps"/> &gt; 0 its longest
/// gap-free run (one FFT never joins samples across a gap), which <see cref="Note"/> then explains.
/// </summary>
public sealed record SpectrumResource(double[] FrequencyHz, double[] Magnitude, IReadOnlyList<SpectrumPeak> Peaks, int Samples, int FftLength, double ResolutionHz, string Window, string Scale,
    double? FromSeconds = null, double? ToSeconds = null, int Gaps = 0, string? Note = null);

/// <summary>Answer of <c>GET /api/measurements/{id}/spectrogram</c>: <c>Magnitude[frame][row]</c>.</summary>
public sealed record SpectrogramResource(double[] TimeSeconds, double[] FrequencyHz, double[][] Magnitude, double[] PeakFrequencyHz,
    int FrameLength, int HopSamples, double ResolutionHz, string Window, string Scale);

/// <summary>
/// <c>GET /api/measurements/{id}/stats?from=&amp;to=&amp;channels=</c>, <c>…/spectrum?from=&amp;to=&amp;channel=&amp;window=&amp;scale=&amp;points=</c>
/// <c>…/spectrogram?from=&amp;to=&amp;channel=&amp;window=&amp;scale=&amp;frame=&amp;frames=&amp;rows=</c>
/// and <c>…/edges?from=&amp;to=&amp;channel=</c> (from/to: seconds since the first sample, both inclusive).
/// Another user's id answers exactly like an unknown one (404); a bad parameter is a 400 validation problem keyed by its name.
/// </summary>
public static class AnalysisEndpoints
{
    /// <summary>Maps the endpoints.</summary>
    public static IEndpointRouteBuilder MapAnalysisEndpoints(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var group = app.MapGroup("/api/measurements/{id:guid}").RequireAuthorization();
        group.MapGet("/stats", StatsAsync);
        group.MapGet("/spectrum", SpectrumAsync);
        group.MapGet("/spectrogram", SpectrogramAsync);
        group.MapGet("/edges", EdgesAsync);
        return app;
    }

    private static Task<Results<Ok<StatsResource>, ValidationProblem, ProblemHttpResult>> StatsAsync(
        Guid id, HttpContext http, AnalysisService analysis, string? from, string? to, string? channels) =>
        Answer(async me => await analysis.StatisticsAsync(me, id, from, to, channels, http.RequestAborted) is { } r
            ? new StatsResource([.. r.Statistics.Channels.Select(ChannelStatsResource.From)],
                r.Times.SecondsOf(r.Statistics.FromIndex), r.Times.SecondsOf(Math.Max(r.Statistics.FromIndex, r.Statistics.ToIndex - 1)),
                r.Statistics.SummaryRowsRead, r.Statistics.RawSamplesRead)
            : null, http);

    private static Task<Results<Ok<SpectrumResource>, ValidationProblem, ProblemHttpResult>> SpectrumAsync(
        Guid id, HttpContext http, AnalysisService analysis, string? from, string? to, string? channel, string? window, string? scale, string? points) =>
        Answer(async me =>
        {
            var maxPoints = 4096;
            if (!string.IsNullOrEmpty(points) && (!int.TryParse(points, out maxPoints) || maxPoints is < 2 or > 100_000))
            {
                throw new AnalysisRequestException("points", "points must be a whole number from 2 to 100000.");
            }
            return await analysis.SpectrumAsync(me, id, from, to, channel, window, scale, maxPoints, http.RequestAborted) is { } s
                ? new SpectrumResource(s.FrequencyHz, s.Magnitude, s.Peaks, s.Samples, s.FftLength, s.ResolutionHz,
                    (window ?? "hann").ToLowerInvariant(), (scale ?? "db").ToLowerInvariant(), s.FromSeconds, s.ToSeconds, s.Gaps, s.Note)
                : null;
        }, http);

    private static Task<Results<Ok<SpectrogramResource>, ValidationProblem, ProblemHttpResult>> SpectrogramAsync(
        Guid id, HttpContext http, AnalysisService analysis, string? from, string? to, string? channel, string? window, string? scale, string? frame, string? frames, string? rows) =>
        Answer(async me => await analysis.SpectrogramAsync(me, id, from, to, channel, window, scale, frame, frames, rows, http.RequestAborted) is { } s
            ? new SpectrogramResource(s.TimeSeconds, s.FrequencyHz, s.Magnitude, s.PeakFrequencyHz, s.FrameLength, s.HopSamples, s.ResolutionHz,
                (window ?? "hann").ToLowerInvariant(), (scale ?? "db").ToLowerInvariant())
            : null, http);

    private static Task<Results<Ok<EdgeResult>, ValidationProblem, ProblemHttpResult>> EdgesAsync(
        Guid id, HttpContext http, AnalysisService analysis, string? from, string? to, string? channel) =>
        Answer(me => analysis.EdgesAsync(me, id, from, to, channel, http.RequestAborted), http);

    private static async Task<Results<Ok<T>, ValidationProblem, ProblemHttpResult>> Answer<T>(Func<Acquisition.Measurements.Requester, Task<T?>> work, HttpContext http)
        where T : class
    {
        var me = CurrentUser.FromPrincipal(http.User) ?? throw new InvalidOperationException("The endpoint requires an authenticated user.");
        try
        {
            return await work(me) is { } result
                ? TypedResults.Ok(result)
                : TypedResults.Problem(title: "Measurement not found", detail: "No measurement with this id.", statusCode: StatusCodes.Status404NotFound);
        }
        catch (AnalysisRequestException ex)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { [ex.Parameter] = [ex.Message] });
        }
    }
}
