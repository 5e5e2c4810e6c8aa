using System.Text.RegularExpressions;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Security;

/// <summary>Shared pieces of the access-matrix tests: a small stored measurement and the "leaks nothing" checks.</summary>
internal static partial class AccessProbe
{
    /// <summary>A stopped 3 s, 1 kHz, one-channel measurement of <paramref name="ownerId"/> written through the app's store.</summary>
    public static async Task<Guid> StoreMeasurementAsync(IServiceProvider services, string ownerId, string ownerName, string name)
    {
        var store = services.GetRequiredService<ISampleStore>();
        var id = Guid.CreateVersion7();
        var signal = new KnownSignal(id, 1, [1000, 1000, 1000], (_, i) => MathF.Sin(i / 50f));
        var info = KnownSignal.Info(id, 1, ownerId) with { Name = name, OwnerName = ownerName, StartedAt = DateTimeOffset.UtcNow.AddMinutes(-5) };
        await store.CreateMeasurementAsync(info, CancellationToken.None);
        await store.WriteChunksAsync(signal.Chunks, CancellationToken.None);
        await store.UpdateMeasurementAsync(info with
        {
            State = MeasurementState.Stopped,
            StopReason = StopReason.User,
            StoppedAt = info.StartedAt.AddSeconds(3),
            SampleCount = 3000,
        }, CancellationToken.None);
        return id;
    }

    /// <summary>Asserts that none of the secrets (names, emails, ids) appears in the text.</summary>
    public static void AssertNoSecret(string text, IEnumerable<string> secrets)
    {
        foreach (var secret in secrets)
        {
            Assert.DoesNotContain(secret, text, StringComparison.OrdinalIgnoreCase);
        }
    }

    /// <summary>A problem-details body without its per-request trace id (everything else must be identical).</summary>
    public static string WithoutTraceId(string body) => TraceId().Replace(body, "");

    /// <summary>Path with {0} replaced by the id.</summary>
    public static string Format(string path, Guid id) => string.Format(System.Globalization.CultureInfo.InvariantCulture, path, id);

    [GeneratedRegex("\"traceId\":\"[^\"]*\"")]
    private static partial Regex TraceId();
}
