using System.Runtime.InteropServices;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Export;

/// <summary>
/// The real app on SQLite with one stored measurement of known values (3 channels, 300 000 samples
/// at 1 kHz, uneven chunk sizes, time stamps with sub-millisecond detail), its owner, and a second
/// operator who must not see it.
/// </summary>
public sealed class ExportFixture : IAsyncLifetime
{
    public const int Channels = 3;
    public const double SampleRate = 1000;
    public const string Name = "Run 1: a/b\\c\"d ä";
    // Sample 0's time: a whole 100 ns multiple with detail below the millisecond.
    public const long StartNs = 1_700_000_000_123_456_700;

    public AppFactory Factory { get; } = new(DatabaseProvider.Sqlite);
    public Guid MeasurementId { get; } = Guid.CreateVersion7();
    public float[][] Samples { get; private set; } = [];
    public AppUser OwnerUser { get; private set; } = null!;
    public HttpClient Owner { get; private set; } = null!;
    public HttpClient Other { get; private set; } = null!;
    public HttpClient Admin { get; private set; } = null!;
    public string TempFolder { get; } = Path.Combine(Path.GetTempPath(), "measureapp-export-tests", Guid.NewGuid().ToString("N"));

    public static float Value(int channel, long i) => channel switch
    {
        0 => MathF.Sin(i * 0.001f),
        1 => (i % 1000) - 499.5f,
        _ => (float)(i * 1e-3) + 0.1f,
    };

    public static long TimeNs(long index, double rate = SampleRate) => StartNs + (long)(index * 1e9 / rate);

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(TempFolder);
        var owner = OwnerUser = await Users.CreateOperatorAsync(Factory.Services);
        var other = await Users.CreateOperatorAsync(Factory.Services);
        var sizes = Enumerable.Range(0, 60).Select(i => i % 3 == 0 ? 7000 : 4000).ToList();
        sizes.Add(300_000 - sizes.Sum());
        var signal = new KnownSignal(MeasurementId, Channels, sizes, (c, i) => Value(c, i));
        Samples = signal.Samples;
        var chunks = signal.Chunks.Select(c => c with { T0Ns = TimeNs(c.FirstSampleIndex) }).ToList();
        await StoreAsync(Factory.Services, MeasurementId, owner, Name, Channels, SampleRate, chunks);
        Owner = await HttpLogin.LoggedInClientAsync(Factory, owner.Email!, Users.Password);
        Other = await HttpLogin.LoggedInClientAsync(Factory, other.Email!, Users.Password);
        Admin = await HttpLogin.LoggedInClientAsync(Factory, AppFactory.AdminEmail, AppFactory.AdminPassword);
    }

    /// <summary>Writes a measurement and its chunks through the app's own store, as the engine does.</summary>
    public static async Task StoreAsync(IServiceProvider services, Guid id, AppUser owner, string name, int channels, double rate, IReadOnlyList<StoredChunk> chunks, bool create = true)
    {
        var store = services.GetRequiredService<ISampleStore>();
        var info = KnownSignal.Info(id, channels, ownerId: owner.Id, state: MeasurementState.Stopped) with
        {
            OwnerName = owner.Email!,
            Name = name,
            SampleRate = rate,
            Channels = [.. Enumerable.Range(0, channels).Select(c => new ChannelInfo($"ch{c + 1}", c == 1 ? "m/s²" : "V"))],
        };
        if (create)
        {
            await store.CreateMeasurementAsync(info, CancellationToken.None);
        }
        if (chunks.Count > 0)
        {
            await store.WriteChunksAsync(chunks, CancellationToken.None);
            await store.UpdateMeasurementAsync(info with { SampleCount = chunks[^1].FirstSampleIndex + chunks[^1].SampleCount }, CancellationToken.None);
        }
    }

    /// <summary>One chunk of a single-channel signal, built without keeping the whole signal.</summary>
    public static StoredChunk Chunk(Guid id, long sequence, long first, int count, double rate, Func<long, float> value)
    {
        var payload = new byte[count * sizeof(float)];
        var values = MemoryMarshal.Cast<byte, float>(payload.AsSpan());
        for (var i = 0; i < count; i++)
        {
            values[i] = value(first + i);
        }
        var (min, max) = M4.MinMaxScalar(values);
        return new StoredChunk
        {
            MeasurementId = id,
            Sequence = sequence,
            FirstSampleIndex = first,
            T0Ns = TimeNs(first, rate),
            SampleCount = count,
            ChannelCount = 1,
            Payload = payload,
            Min = [min],
            Max = [max],
        };
    }

    public Task DisposeAsync()
    {
        Owner?.Dispose();
        Other?.Dispose();
        Admin?.Dispose();
        Factory.Dispose();
        try
        {
            Directory.Delete(TempFolder, recursive: true);
        }
        catch (IOException)
        {
            // Left for the OS temp cleaner.
        }
        return Task.CompletedTask;
    }
}
