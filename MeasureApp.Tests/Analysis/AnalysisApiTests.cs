using System.Net;
using System.Text.Json;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Analysis;

/// <summary>
/// The stats, spectrum and edges APIs over HTTP on each provider: a stored sine of known frequency and
/// amplitude, a square wave of known duty cycle, another user's id (404 like an unknown one), bad parameters
/// (400 naming the parameter) and the raw-data limit; a spectrogram of a frequency step; edges that are not
/// timed across a gap in the data.
/// </summary>
public abstract class AnalysisApiTests(DatabaseProvider provider) : IDisposable
{
    private const double Rate = 1000;
    private const double SineHz = 50;
    private const double Amplitude = 2;
    private readonly AppFactory _factory = new(provider);

    [Fact]
    public async Task ASimulatedSineShowsItsFrequencyWithinOneBinAndAnRmsOfAmplitudeOverRootTwo()
    {
        var (client, userId) = await OperatorAsync();
        // 400 whole periods, zero-padded to an 8192-point FFT.
        var id = await StoreAsync(userId, 8000, (c, i) => (float)(Amplitude * Math.Sin(2 * Math.PI * SineHz * i / Rate)));

        var stats = await ApiJson.GetAsync(client, $"/api/measurements/{id}/stats?from=0&to=7.999&channels=0");
        var ch = stats.GetProperty("channels")[0];
        Assert.Equal(0, ch.GetProperty("channel").GetInt32());
        Assert.Equal(8000, ch.GetProperty("count").GetInt64());
        var rms = ch.GetProperty("rms").GetDouble();
        Assert.True(Math.Abs(rms - Amplitude / Math.Sqrt(2)) <= 0.001 * Amplitude / Math.Sqrt(2), $"RMS {rms}");
        Assert.True(Math.Abs(ch.GetProperty("peakToPeak").GetDouble() - 2 * Amplitude) < 1e-3);
        Assert.True(Math.Abs(ch.GetProperty("mean").GetDouble()) < 1e-6, $"mean {ch.GetProperty("mean").GetDouble()}");
        Assert.True(Math.Abs(ch.GetProperty("std").GetDouble() - rms) < 1e-3);

        foreach (var window in new[] { "hann", "hamming", "blackman-harris", "flat-top", "rectangular" })
        {
            var spectrum = await ApiJson.GetAsync(client, $"/api/measurements/{id}/spectrum?from=0&to=7.999&channel=0&window={window}&scale=linear");
            var resolution = spectrum.GetProperty("resolutionHz").GetDouble();
            Assert.Equal(Rate / 8192, resolution, 9);
            var peak = spectrum.GetProperty("peaks")[0];
            Assert.True(Math.Abs(peak.GetProperty("frequencyHz").GetDouble() - SineHz) <= resolution, $"{window}: peak at {peak.GetProperty("frequencyHz").GetDouble()} Hz");
            // 50 Hz falls between bins here: only flat-top reads the amplitude within 0.1 %; the others within their scalloping loss.
            var expected = window == "flat-top" ? 0.001 : window == "rectangular" ? 0.37 : 0.16;
            Assert.True(Math.Abs(peak.GetProperty("magnitude").GetDouble() - Amplitude) <= expected * Amplitude, $"{window}: peak magnitude {peak.GetProperty("magnitude").GetDouble()}");
            Assert.Equal(spectrum.GetProperty("frequencyHz").GetArrayLength(), spectrum.GetProperty("magnitude").GetArrayLength());
        }
        var db = await ApiJson.GetAsync(client, $"/api/measurements/{id}/spectrum?channel=0&window=flat-top");
        Assert.Equal(20 * Math.Log10(Amplitude), db.GetProperty("peaks")[0].GetProperty("magnitude").GetDouble(), 1);
    }

    [Fact]
    public async Task EdgesOfASquareWaveGiveItsFrequencyDutyCycleAndEdgeCount()
    {
        var (client, userId) = await OperatorAsync();
        // 40 Hz at 1 kHz: 25 samples per period, 10 high (duty 40 %), one ramp sample on each edge.
        var id = await StoreAsync(userId, 5000, (c, i) => (i % 25) switch { 0 => 0.5f, < 10 => 1f, 10 => 0.5f, _ => 0f });

        var edges = await ApiJson.GetAsync(client, $"/api/measurements/{id}/edges?channel=0&from=0.0005&to=4.9");

        Assert.Equal(40, edges.GetProperty("frequencyHz").GetDouble(), 6);
        Assert.Equal(0.4, edges.GetProperty("dutyCycle").GetDouble(), 6);
        Assert.Equal(195, edges.GetProperty("risingEdges").GetInt32());
        Assert.InRange(edges.GetProperty("fallingEdges").GetInt32(), 195, 196);
        // A two-sample ramp 0 → 0.5 → 1: 10 % to 90 % takes 1.6 sample intervals, the same down.
        Assert.Equal(1.6 / Rate, edges.GetProperty("riseTimeSeconds").GetDouble(), 9);
        Assert.Equal(1.6 / Rate, edges.GetProperty("fallTimeSeconds").GetDouble(), 9);
    }

    [Fact]
    public async Task ASpectrogramOfAFrequencyStepShowsThePeakMovingFromTheFirstToTheSecondFrequency()
    {
        var (client, userId) = await OperatorAsync();
        // 4 s of 50 Hz, then 4 s of 200 Hz (phase-continuous), at 1 kHz.
        var id = await StoreAsync(userId, 8000, (c, i) => (float)Math.Sin(2 * Math.PI * (i < 4000 ? 50 * i : (50 * 4000) + (200 * (i - 4000))) / Rate));

        var s = await ApiJson.GetAsync(client, $"/api/measurements/{id}/spectrogram?channel=0&frame=256");

        Assert.Equal(256, s.GetProperty("frameLength").GetInt32());
        var resolution = s.GetProperty("resolutionHz").GetDouble();
        Assert.Equal(Rate / 256, resolution, 9);
        var times = s.GetProperty("timeSeconds").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var peaks = s.GetProperty("peakFrequencyHz").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var magnitude = s.GetProperty("magnitude");
        Assert.InRange(times.Length, 100, 300);
        Assert.Equal(times.Length, peaks.Length);
        Assert.Equal(times.Length, magnitude.GetArrayLength());
        Assert.Equal(s.GetProperty("frequencyHz").GetArrayLength(), magnitude[0].GetArrayLength());
        Assert.True(times.Zip(times.Skip(1)).All(p => p.Second > p.First), "Frame times do not increase.");
        var half = 128 / Rate;
        var before = Enumerable.Range(0, times.Length).Where(k => times[k] + half <= 4.0).ToList();
        var after = Enumerable.Range(0, times.Length).Where(k => times[k] - half >= 4.0).ToList();
        Assert.True(before.Count > 40 && after.Count > 40, $"{before.Count} frames before the step, {after.Count} after.");
        Assert.All(before, k => Assert.True(Math.Abs(peaks[k] - 50) <= resolution, $"frame at {times[k]} s peaks at {peaks[k]} Hz"));
        Assert.All(after, k => Assert.True(Math.Abs(peaks[k] - 200) <= resolution, $"frame at {times[k]} s peaks at {peaks[k]} Hz"));
        // The heatmap's rows agree: in a frame before the step the strongest row is near 50 Hz, after it near 200 Hz.
        var rows = s.GetProperty("frequencyHz").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        double StrongestRow(int frame) => rows[magnitude[frame].EnumerateArray().Select((m, r) => (m.GetDouble(), r)).Max().r];
        Assert.True(Math.Abs(StrongestRow(before[^1]) - 50) <= resolution);
        Assert.True(Math.Abs(StrongestRow(after[0]) - 200) <= resolution);
    }

    [Fact]
    public async Task ASpectrogramOverTenMillionSamplesIsRefusedWithTheNumbers()
    {
        var (client, userId) = await OperatorAsync();
        // A stopped measurement whose stored samples reach index 20 M (its second half stored after an index
        // jump, so the test stores only 2,000): refused before anything is read.
        var id = await StoreAsync(userId, 2000, (c, i) => i % 3, declaredSamples: 20_000_000, indexShift: (1000, 20_000_000 - 2000));

        var response = await client.GetAsync($"/api/measurements/{id}/spectrogram?channel=0");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("20,000,000 samples", text, StringComparison.Ordinal);
        Assert.Contains("10,000,000", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EdgesAreNotTimedAcrossAGapInTheData()
    {
        var (client, userId) = await OperatorAsync();
        // The square wave of the test above, 2 s of it, then the recording stops for 5 s and goes on 12 samples
        // out of phase: the chunks after the gap start 5 s later (a discontinuity), the sample indices go on.
        static float Square(long i) => (i % 25) switch { 0 => 0.5f, < 10 => 1f, 10 => 0.5f, _ => 0f };
        var id = await StoreAsync(userId, 4000, (c, i) => Square(i < 2000 ? i : i + 12), shiftAfter: (2000, 5_000_000_000L));

        var edges = await ApiJson.GetAsync(client, $"/api/measurements/{id}/edges?channel=0");

        Assert.Equal(1, edges.GetProperty("gaps").GetInt32());
        // Periods inside each run only: exactly 25 samples; joined end to end, one period would be 12 samples longer.
        Assert.Equal(40, edges.GetProperty("frequencyHz").GetDouble(), 9);
        Assert.Equal(0.4, edges.GetProperty("dutyCycle").GetDouble(), 6);
        var first = MeasureApp.Analysis.EdgeAnalyzer.Analyze(0, Enumerable.Range(0, 2000).Select(i => Square(i)).ToArray(), Rate);
        var second = MeasureApp.Analysis.EdgeAnalyzer.Analyze(0, Enumerable.Range(2000, 2000).Select(i => Square(i + 12)).ToArray(), Rate);
        Assert.Equal(first.RisingEdges + second.RisingEdges, edges.GetProperty("risingEdges").GetInt32());
        Assert.Equal(first.FallingEdges + second.FallingEdges, edges.GetProperty("fallingEdges").GetInt32());
        Assert.Equal(1.6 / Rate, edges.GetProperty("riseTimeSeconds").GetDouble(), 9);
    }

    [Fact]
    public async Task AnotherUsersMeasurementAnswersLikeAnUnknownIdOnEveryAnalysisEndpoint()
    {
        var (_, ownerId) = await OperatorAsync();
        var (other, _) = await OperatorAsync();
        var id = await StoreAsync(ownerId, 1000, (c, i) => i);

        foreach (var path in new[] { "stats", "spectrum", "spectrogram?frame=256", "edges" })
        {
            var foreign = await other.GetAsync($"/api/measurements/{id}/{path}");
            var unknown = await other.GetAsync($"/api/measurements/{Guid.NewGuid()}/{path}");
            Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            Assert.Equal(MeasureApp.Tests.Security.AccessProbe.WithoutTraceId(await unknown.Content.ReadAsStringAsync()), MeasureApp.Tests.Security.AccessProbe.WithoutTraceId(await foreign.Content.ReadAsStringAsync()));
        }
        var admin = await HttpLogin.LoggedInClientAsync(_factory, AppFactory.AdminEmail, AppFactory.AdminPassword);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync($"/api/measurements/{id}/stats")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await HttpLogin.CreateClient(_factory).GetAsync($"/api/measurements/{id}/stats")).StatusCode);
    }

    [Theory]
    [InlineData("stats?from=abc", "from")]
    [InlineData("stats?from=-1", "from")]
    [InlineData("stats?from=3&to=2", "from")]
    [InlineData("stats?from=99", "from")]
    [InlineData("stats?to=NaN", "to")]
    [InlineData("stats?channels=0,7", "channels")]
    [InlineData("stats?channels=0,0", "channels")]
    [InlineData("stats?channels=x", "channels")]
    [InlineData("spectrum?channel=2", "channel")]
    [InlineData("spectrum?window=kaiser", "window")]
    [InlineData("spectrum?window=1", "window")]
    [InlineData("spectrum?scale=log", "scale")]
    [InlineData("spectrum?points=1", "points")]
    [InlineData("spectrogram?frame=1000", "frame")]
    [InlineData("spectrogram?frame=8", "frame")]
    [InlineData("spectrogram?frames=5000", "frames")]
    [InlineData("spectrogram?rows=x", "rows")]
    [InlineData("spectrogram?from=0&to=0.1&frame=256", "to")]
    [InlineData("edges?channel=-1", "channel")]
    [InlineData("edges?from=0.5004&to=0.5006", "to")]
    public async Task BadParametersGetABadRequestNamingTheParameter(string query, string parameter)
    {
        var (client, userId) = await OperatorAsync();
        var id = await StoreAsync(userId, 2000, (c, i) => i % 7);

        var response = await client.GetAsync($"/api/measurements/{id}/{query}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(problem.GetProperty("errors").TryGetProperty(parameter, out var messages), $"errors has no '{parameter}': {problem}");
        Assert.False(string.IsNullOrWhiteSpace(messages[0].GetString()));
    }

    [Fact]
    public async Task ASpectrumSpanOverTwoToTheTwentySamplesIsRefusedWithTheNumbers()
    {
        var (client, userId) = await OperatorAsync();
        var id = await StoreAsync(userId, (1 << 20) + 10, (c, i) => i % 3);

        var response = await client.GetAsync($"/api/measurements/{id}/spectrum?channel=0");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("1,048,586 samples", text, StringComparison.Ordinal);
        Assert.Contains("2^20", text, StringComparison.Ordinal);
    }

    private async Task<(HttpClient Client, string UserId)> OperatorAsync()
    {
        var (user, client) = await HttpLogin.LoggedInOperatorAsync(_factory);
        return (client, user.Id);
    }

    // shiftAfter: chunks from that sample index on are stamped later by that many ns (a gap in time).
    // indexShift: chunks from that sample index on are stored that many sample indices later (an index jump).
    private async Task<Guid> StoreAsync(string ownerId, int samples, Func<int, long, float> value, long? declaredSamples = null, (long Index, long Ns)? shiftAfter = null,
        (long Index, long By)? indexShift = null)
    {
        var store = _factory.Services.GetRequiredService<ISampleStore>();
        var id = Guid.NewGuid();
        var sizes = Enumerable.Repeat(1000, samples / 1000).Append(samples % 1000).Where(n => n > 0).ToArray();
        var signal = new KnownSignal(id, 2, sizes, value);
        await store.CreateMeasurementAsync(KnownSignal.Info(id, 2, ownerId, MeasurementState.Stopped, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow, declaredSamples ?? samples), CancellationToken.None);
        var chunks = signal.Chunks.Select(c => shiftAfter is { } g && c.FirstSampleIndex >= g.Index ? c with { T0Ns = c.T0Ns + g.Ns } : c)
            .Select(c => indexShift is { } j && c.FirstSampleIndex >= j.Index ? c with { FirstSampleIndex = c.FirstSampleIndex + j.By } : c).ToList();
        for (var i = 0; i < chunks.Count; i += 64)
        {
            await store.WriteChunksAsync([.. chunks.Skip(i).Take(64)], CancellationToken.None);
        }
        return id;
    }

    public void Dispose()
    {
        _factory.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteAnalysisApiTests() : AnalysisApiTests(DatabaseProvider.Sqlite);

public sealed class PostgresAnalysisApiTests() : AnalysisApiTests(DatabaseProvider.Postgres);
