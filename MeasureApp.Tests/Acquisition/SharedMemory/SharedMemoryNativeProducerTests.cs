using System.Collections.Concurrent;
using System.Diagnostics;
using MeasureApp.Acquisition.Devices.SharedMemory;

namespace MeasureApp.Tests.Acquisition.SharedMemory;

/// <summary>
/// The C producer from docs/examples, compiled with the documented command and run against the
/// driver: the document is only right if a C program written from it works. Needs gcc (fails without).
/// </summary>
public sealed class SharedMemoryNativeProducerTests : IDisposable
{
    private readonly ShmFiles _files = new();
    private readonly DirectoryInfo _build = Directory.CreateTempSubdirectory("measureapp-shm-");

    public void Dispose()
    {
        _files.Dispose();
        _build.Delete(recursive: true);
    }

    [Fact]
    public async Task TheDocumentedCProducerCompilesAndFeedsTheDriver()
    {
        var source = Path.Combine(SharedMemoryLayoutTests.RepositoryRoot(), "docs", "examples", "shm_producer.c");
        var exe = Path.Combine(_build.FullName, "shm_producer");
        var (exit, compilerOutput) = await RunToEndAsync("gcc", "-O2", "-o", exe, source, "-lm");
        Assert.True(exit == 0, "gcc failed: " + compilerOutput);

        var path = _files.NewPath();
        var lines = new ConcurrentQueue<string>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var producer = new Process
        {
            StartInfo = new ProcessStartInfo(exe)
            {
                ArgumentList = { "--path", path, "--capacity", "8192", "--pattern", "ramp", "--exit-on-stop", "--max-seconds", "60" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            },
        };
        producer.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                lines.Enqueue(line);
                if (line.StartsWith("ready ", StringComparison.Ordinal))
                {
                    ready.TrySetResult();
                }
            }
        };
        producer.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                lines.Enqueue("stderr: " + line);
            }
        };
        producer.Start();
        producer.BeginOutputReadLine();
        producer.BeginErrorReadLine();
        try
        {
            await ready.Task.WaitAsync(ShmTest.HangGuard);
            var device = ShmTest.Device(path, heartbeatTimeoutMilliseconds: 2000);
            var driver = ShmTest.CreateDriver(device);
            var info = ShmTest.Info(channels: 3, rate: 10_000);
            var sink = new ShmSink();
            var run = driver.Start(device, info, sink);
            await sink.WaitUntilAsync(s => s.Samples >= 5000, "5000 samples from the C producer");
            var stats = driver.GetStatistics(path)!;
            await run.DisposeAsync();
            using (var cts = new CancellationTokenSource(ShmTest.HangGuard))
            {
                await producer.WaitForExitAsync(cts.Token);
            }

            var output = string.Join('\n', lines);
            Assert.Equal(0, producer.ExitCode);
            Assert.Contains($"start {info.Id} channels 3 rate 10000", output, StringComparison.Ordinal);
            Assert.Contains($"stop {info.Id} records ", output, StringComparison.Ordinal);
            Assert.DoesNotContain("stderr:", output, StringComparison.Ordinal);

            // ramp: value = sample counter + 0.25 × channel, from counter 0. A jump in the counter must
            // have been reported as a gap (a loaded machine may let the ring run full).
            var ch0 = sink.Channel(0);
            var ch1 = sink.Channel(1);
            var ch2 = sink.Channel(2);
            Assert.Equal(0f, ch0[0]);
            var jumps = 0;
            for (var i = 0; i < ch0.Length; i++)
            {
                Assert.Equal(ch0[i] + 0.25f, ch1[i]);
                Assert.Equal(ch0[i] + 0.5f, ch2[i]);
                if (i > 0)
                {
                    Assert.True(ch0[i] > ch0[i - 1], $"sample {i}: {ch0[i]} after {ch0[i - 1]}");
                    jumps += ch0[i] == ch0[i - 1] + 1 ? 0 : 1;
                }
            }
            Assert.Equal(jumps, sink.Faults(SharedMemoryFaults.Gap));
            foreach (var kind in new[] { SharedMemoryFaults.Checksum, SharedMemoryFaults.Sequence, SharedMemoryFaults.Channels, SharedMemoryFaults.User, SharedMemoryFaults.Foreign, SharedMemoryFaults.Header })
            {
                Assert.True(stats[kind] == 0, $"{kind}: {stats[kind]}; {sink.Describe()}");
            }
            var blocks = sink.Blocks;
            Assert.All(blocks, b => Assert.Equal(10_000, b.Rate));
            Assert.True(blocks[^1].T0Ns > blocks[0].T0Ns);
            Assert.InRange(blocks[0].T0Ns, DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds() * 1_000_000L, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000L);
        }
        finally
        {
            if (!producer.HasExited)
            {
                producer.Kill(entireProcessTree: true);
            }
        }
    }

    private static async Task<(int ExitCode, string Output)> RunToEndAsync(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{file} did not start.");
        using var cts = new CancellationTokenSource(ShmTest.HangGuard);
        var stdout = process.StandardOutput.ReadToEndAsync(cts.Token);
        var stderr = process.StandardError.ReadToEndAsync(cts.Token);
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
