using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Network;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using static MeasureApp.Tests.Acquisition.Network.NetworkTestKit;

namespace MeasureApp.Tests.Acquisition.Network;

/// <summary>
/// A burst of faults of a running network measurement is logged once (by the engine, with the
/// measurement) with its true count, not a second time by the listener; every log line of the
/// driver and the engine is kept by a test logger provider and counted.
/// </summary>
public sealed class NetworkFaultLogTests
{
    private static readonly DeviceOptions Remote = new() { Id = "remote", Driver = NetworkDriver.DriverKind, TcpPort = 0, UdpPort = -1 };

    [Fact]
    public async Task ABurstOfBadFramesOfARunningMeasurementIsLoggedOnceWithItsTrueCount()
    {
        var log = new LogLines();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(log).SetMinimumLevel(LogLevel.Information));
        var tokens = new InMemoryCollectorTokens();
        var driver = new NetworkDriver(tokens, TimeProvider.System, Options.Create(new AcquisitionOptions { Devices = [Remote] }), loggers);
        var observed = new ObservedDriver(driver);
        var harness = await EngineHarness.StartNewAsync([Remote], [observed], loggers: loggers);
        var m = await harness.StartMeasurementAsync(EngineHarness.Alice, EngineHarness.Request(channels: 2, rate: 1000) with { DeviceId = Remote.Id });
        var token = await tokens.IssueAsync(EngineHarness.Alice.UserId, default);
        await using (var collector = await TestCollector.ConnectAsync(driver.ListenerFor(Remote).TcpEndPoint))
        {
            await collector.HelloAsync(token.Secret);
            await collector.SendAsync(DataFrame(m, 0, samples: 50));
            await observed.WaitForSamplesAsync(m.Id, 50);
            for (ulong s = 1; s <= 3; s++)
            {
                // The frame's trailing CRC is wrong: refused, a "crc" fault of this measurement.
                var bad = DataFrame(m, s, samples: 50);
                bad[^1] ^= 0xFF;
                await collector.SendAsync(bad);
            }
            await UntilAsync(() => harness.Engine.Find(m.Id, EngineHarness.Alice)?.Faults.GetValueOrDefault(NetworkFaultKinds.Crc) == 3, "three crc faults counted");
        }

        // Stopping logs the measurement's open bursts; disposing the driver flushes the listener's.
        await harness.Engine.StopAsync(m.Id, EngineHarness.Alice, default);
        await harness.DisposeAsync();
        await driver.DisposeAsync();

        var crcLines = log.Lines.Where(l => l.Contains($"{NetworkFaultKinds.Crc} ×", StringComparison.Ordinal)).ToList();
        var line = Assert.Single(crcLines);
        Assert.Contains($"{NetworkFaultKinds.Crc} × 3 ", line, StringComparison.Ordinal);
        Assert.Contains(m.Id.ToString(), line, StringComparison.Ordinal);
    }

    /// <summary>Keeps every log line of every category, formatted.</summary>
    private sealed class LogLines : ILoggerProvider, ILogger
    {
        private readonly Lock _gate = new();
        private readonly List<string> _lines = [];

        public IReadOnlyList<string> Lines
        {
            get
            {
                lock (_gate)
                {
                    return [.. _lines];
                }
            }
        }

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_gate)
            {
                _lines.Add(formatter(state, exception));
            }
        }

        public void Dispose()
        {
        }
    }
}
