using System.Buffers.Binary;
using System.Net.Sockets;
using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Network;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static MeasureApp.Tests.Acquisition.Network.NetworkTestKit;

namespace MeasureApp.Tests.Acquisition.Network;

/// <summary>The Network device over real sockets on 127.0.0.1 with ephemeral ports.</summary>
public sealed class NetworkListenerTests
{
    private readonly InMemoryCollectorTokens _tokens = new();

    [Fact]
    public async Task TcpFramesArriveAsBlocksWithExactValues()
    {
        await using var listener = StartListener(_tokens);
        var alice = await _tokens.IssueAsync("alice", default);
        var m = Measurement("alice", channels: 3, rate: 2000);
        var sink = new RecordingSink();
        await using var registration = listener.Register(m, sink);
        await using var collector = await TestCollector.ConnectAsync(listener.TcpEndPoint);

        var welcome = await collector.HelloAsync(alice.Secret);
        for (ulong s = 0; s < 5; s++)
        {
            await collector.SendAsync(DataFrame(m, s, samples: 40));
        }
        await sink.WaitForBlocksAsync(5);
        await collector.SendAsync(Bye());
        var rest = await collector.ReadToEndAsync();

        Assert.Equal(FrameType.Welcome, welcome?.Type);
        Assert.Equal(5, sink.Blocks.Count);
        for (var s = 0; s < 5; s++)
        {
            var b = sink.Blocks[s];
            Assert.Equal((T0((ulong)s), 2000.0, 3, 40), (b.T0Ns, b.SampleRate, b.ChannelCount, b.Count));
            Assert.Equal(Values((ulong)s, 3, 40), b.Values);
        }
        Assert.Equal([FrameType.Bye], rest.Select(f => f.Type));
        Assert.Empty(sink.Faults);
    }

    [Fact]
    public async Task UdpFramesArriveAsBlocksWithExactValues()
    {
        await using var listener = StartListener(_tokens);
        var alice = await _tokens.IssueAsync("alice", default);
        var m = Measurement("alice", channels: 2);
        var sink = new RecordingSink();
        await using var registration = listener.Register(m, sink);
        using var udp = new Socket(listener.UdpEndPoint!.AddressFamily, SocketType.Dgram, ProtocolType.Udp);

        for (ulong s = 0; s < 5; s++)
        {
            await udp.SendToAsync(DataFrame(m, s, samples: 100, token: alice.Secret), listener.UdpEndPoint);
        }
        await sink.WaitForBlocksAsync(5);

        for (var s = 0; s < 5; s++)
        {
            var b = sink.Blocks[s];
            Assert.Equal((T0((ulong)s), 2, 100), (b.T0Ns, b.ChannelCount, b.Count));
            Assert.Equal(Values((ulong)s, 2, 100), b.Values);
        }
        Assert.Empty(sink.Faults);
    }

    [Fact]
    public async Task CollectorWithAnotherUsersTokenCannotFeedThatUsersMeasurement()
    {
        await using var listener = StartListener(_tokens);
        var alice = await _tokens.IssueAsync("alice", default);
        var bob = await _tokens.IssueAsync("bob", default);
        var m = Measurement("alice");
        var sink = new RecordingSink();
        await using var registration = listener.Register(m, sink);
        await using var mallory = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        using var udp = new Socket(listener.UdpEndPoint!.AddressFamily, SocketType.Dgram, ProtocolType.Udp);

        var bobWelcome = await mallory.HelloAsync(bob.Secret);
        await mallory.SendAsync(DataFrame(m, 0, restart: true));
        var refused = await mallory.ReadAsync();
        await mallory.SendAsync(DataFrame(Measurement("alice"), 0));
        var unknown = await mallory.ReadAsync();
        await udp.SendToAsync(DataFrame(m, 1, token: bob.Secret), listener.UdpEndPoint);
        await UntilAsync(() => listener.Counters.FaultsOf(NetworkFaultKinds.NotFound) == 3, "the foreign UDP frame was refused");
        // Alice's own frame afterwards proves the pipe works and the foreign ones were not merely late.
        await udp.SendToAsync(DataFrame(m, 7, token: alice.Secret), listener.UdpEndPoint);
        await sink.WaitForBlocksAsync(1);

        Assert.Equal(FrameType.Welcome, bobWelcome?.Type);
        Assert.Equal(new ServerFrame(FrameType.Error, NetworkErrorCode.NotFound, m.Id, 0), refused);
        // Someone else's measurement answers exactly like one that does not exist.
        Assert.Equal(NetworkErrorCode.NotFound, unknown?.Code);
        Assert.Equal(T0(7), Assert.Single(sink.Blocks).T0Ns);
        Assert.Empty(sink.Faults);
    }

    [Fact]
    public async Task InvalidTokenIsRefusedAndTheConnectionClosed()
    {
        await using var listener = StartListener(_tokens);
        var m = Measurement("alice");
        var sink = new RecordingSink();
        await using var registration = listener.Register(m, sink);
        var forged = new byte[32];
        new Random(1).NextBytes(forged);
        await using var collector = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        using var udp = new Socket(listener.UdpEndPoint!.AddressFamily, SocketType.Dgram, ProtocolType.Udp);

        var reply = await collector.HelloAsync(forged);
        try
        {
            await collector.SendAsync(DataFrame(m, 0));
        }
        catch (SocketException)
        {
            // The server may have closed already; either way nothing may arrive.
        }
        var rest = await collector.ReadToEndAsync();
        await udp.SendToAsync(DataFrame(m, 0, token: forged), listener.UdpEndPoint);
        await UntilAsync(() => listener.Counters.FaultsOf(NetworkFaultKinds.Auth) == 2, "both forged tokens were refused");

        Assert.Equal(new ServerFrame(FrameType.Error, NetworkErrorCode.AuthFailed, Guid.Empty, 0), reply);
        Assert.Empty(rest);
        Assert.Empty(sink.Blocks);
        Assert.Equal(0, listener.Counters.BlocksDelivered);
    }

    [Fact]
    public async Task RevokedTokenIsRefused()
    {
        await using var listener = StartListener(_tokens);
        var alice = await _tokens.IssueAsync("alice", default);
        await _tokens.RevokeAsync("alice", alice.Id, default);
        await using var collector = await TestCollector.ConnectAsync(listener.TcpEndPoint);

        var reply = await collector.HelloAsync(alice.Secret);

        Assert.Equal(NetworkErrorCode.AuthFailed, reply?.Code);
    }

    [Fact]
    public async Task DataBeforeHelloIsRefusedAndTheConnectionClosed()
    {
        await using var listener = StartListener(_tokens);
        var m = Measurement("alice");
        var sink = new RecordingSink();
        await using var registration = listener.Register(m, sink);
        await using var collector = await TestCollector.ConnectAsync(listener.TcpEndPoint);

        await collector.SendAsync(DataFrame(m, 0));
        var frames = await collector.ReadToEndAsync();

        Assert.Equal([new ServerFrame(FrameType.Error, NetworkErrorCode.AuthRequired, m.Id, 0)], frames);
        Assert.Empty(sink.Blocks);
    }

    [Fact]
    public async Task AnonymousPeerSendingJunkIsDisconnectedAtOnce()
    {
        await using var listener = StartListener(_tokens);
        await using var peer = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        var junk = new byte[100_000];
        new Random(5).NextBytes(junk);

        try
        {
            await peer.SendAsync(junk);
        }
        catch (SocketException)
        {
            // The server may close before everything is sent.
        }
        var frames = await peer.ReadToEndAsync();
        await UntilAsync(() => listener.Counters.ActiveConnections == 0, "the connection was closed");

        Assert.Equal([NetworkErrorCode.BadFrame], frames.Select(f => f.Code));
        Assert.Equal(1, listener.Counters.FaultsOf(NetworkFaultKinds.BadFrame));
    }

    [Fact]
    public async Task MalformedUdpDatagramsAreEachCountedAndTheLoopGoesOn()
    {
        await using var listener = StartListener(_tokens);
        var alice = await _tokens.IssueAsync("alice", default);
        var m = Measurement("alice");
        var sink = new RecordingSink();
        await using var registration = listener.Register(m, sink);
        using var udp = new Socket(listener.UdpEndPoint!.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        var random = new Random(77);
        var scratch = new byte[4096];

        for (var i = 1; i <= 200; i++)
        {
            var valid = DataFrame(m, (ulong)i, samples: 1 + random.Next(100), token: alice.Secret);
            var length = FrameMutator.Mutate(random, (Mutation)(i % FrameMutator.MutationCount), valid, isData: true, scratch);
            await udp.SendToAsync(scratch.AsMemory(0, length), listener.UdpEndPoint);
            if (i % 25 == 0)
            {
                // Keep well inside the socket's receive buffer: this test is about parsing, not about UDP loss.
                await UntilAsync(() => listener.Counters.DatagramsReceived == i, $"{i} datagrams were received");
            }
        }
        await udp.SendToAsync(DataFrame(m, 0, token: alice.Secret), listener.UdpEndPoint);
        await sink.WaitForBlocksAsync(1);

        Assert.Equal(201, listener.Counters.DatagramsReceived);
        Assert.Equal(200, listener.Counters.Faults);
        Assert.Equal(T0(0), Assert.Single(sink.Blocks).T0Ns);
    }

    [Fact]
    public async Task FramesForAStoppedMeasurementAreRefused()
    {
        await using var listener = StartListener(_tokens);
        var alice = await _tokens.IssueAsync("alice", default);
        var m = Measurement("alice");
        var sink = new RecordingSink();
        var registration = listener.Register(m, sink);
        await using var collector = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        await collector.HelloAsync(alice.Secret);
        await collector.SendAsync(DataFrame(m, 0));
        await sink.WaitForBlocksAsync(1);

        await registration.DisposeAsync();
        await collector.SendAsync(DataFrame(m, 1));
        var reply = await collector.ReadAsync();

        Assert.Equal(new ServerFrame(FrameType.Error, NetworkErrorCode.NotFound, m.Id, 1), reply);
        Assert.Single(sink.Blocks);
    }

    [Fact]
    public async Task SequenceGapsAreCountedDuplicatesDroppedAndARestartAccepted()
    {
        await using var listener = StartListener(_tokens);
        var alice = await _tokens.IssueAsync("alice", default);
        var m = Measurement("alice", channels: 1);
        var sink = new RecordingSink();
        await using var registration = listener.Register(m, sink);
        await using var collector = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        await collector.HelloAsync(alice.Secret);

        foreach (var s in new ulong[] { 0, 1, 3, 3, 2, 4 })
        {
            await collector.SendAsync(DataFrame(m, s));
        }
        await collector.SendAsync(DataFrame(m, 0, restart: true));
        await sink.WaitForBlocksAsync(5);

        Assert.Equal([T0(0), T0(1), T0(3), T0(4), T0(0)], sink.Blocks.Select(b => b.T0Ns));
        Assert.Equal(1, sink.FaultCount(NetworkFaultKinds.SequenceGap));
        Assert.Equal(2, sink.FaultCount(NetworkFaultKinds.Duplicate));
        Assert.Equal(1, sink.FaultCount(NetworkFaultKinds.CollectorRestart));
    }

    [Fact]
    public async Task FramesThatDoNotFitTheMeasurementAreRefusedAndReportedToIt()
    {
        await using var listener = StartListener(_tokens);
        var alice = await _tokens.IssueAsync("alice", default);
        var m = Measurement("alice", channels: 2, rate: 1000);
        var sink = new RecordingSink();
        await using var registration = listener.Register(m, sink);
        await using var collector = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        await collector.HelloAsync(alice.Secret);

        await collector.SendAsync(DataFrame(m with { Channels = [.. m.Channels, m.Channels[0]] }, 0));
        var channels = await collector.ReadAsync();
        await collector.SendAsync(DataFrame(m with { SampleRate = 500 }, 1));
        var rate = await collector.ReadAsync();
        var nan = DataFrame(m, 2);
        BinaryPrimitives.WriteSingleLittleEndian(nan.AsSpan(64 + 12), float.NaN);
        BinaryPrimitives.WriteUInt32LittleEndian(nan.AsSpan(nan.Length - 4), Crc32.Compute(nan.AsSpan(0, nan.Length - 4)));
        await collector.SendAsync(nan);
        var nonFinite = await collector.ReadAsync();
        await collector.SendAsync(DataFrame(m, 3, token: alice.Secret));
        var tokenOnTcp = await collector.ReadAsync();

        Assert.Equal(new ServerFrame(FrameType.Error, NetworkErrorCode.ChannelMismatch, m.Id, 0), channels);
        Assert.Equal(new ServerFrame(FrameType.Error, NetworkErrorCode.RateMismatch, m.Id, 1), rate);
        Assert.Equal(new ServerFrame(FrameType.Error, NetworkErrorCode.NonFinite, m.Id, 2), nonFinite);
        Assert.Equal(new ServerFrame(FrameType.Error, NetworkErrorCode.UnexpectedType, m.Id, 3), tokenOnTcp);
        Assert.Empty(sink.Blocks);
        Assert.Equal(2, sink.FaultCount(NetworkFaultKinds.Mismatch));
        Assert.Equal(1, sink.FaultCount(NetworkFaultKinds.NonFinite));
    }

    [Fact]
    public async Task SilentCollectorIsClosedAfterTheIdleTimeoutAndTheListenerGoesOn()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2025-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        await using var listener = StartListener(_tokens, time, idleTimeoutSeconds: 30);
        var alice = await _tokens.IssueAsync("alice", default);
        var m = Measurement("alice");
        var sink = new RecordingSink();
        await using var registration = listener.Register(m, sink);
        await using var slow = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        await slow.HelloAsync(alice.Secret);
        await slow.SendAsync(DataFrame(m, 0));
        await sink.WaitForBlocksAsync(1);

        // Slowloris: half a header, then nothing.
        var partial = DataFrame(m, 1).AsMemory(0, 20);
        var before = listener.Counters.BytesReceived;
        await slow.SendAsync(partial);
        await UntilAsync(() => listener.Counters.BytesReceived == before + 20, "the partial frame was received");
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(1, listener.Counters.ActiveConnections);
        time.Advance(TimeSpan.FromSeconds(2));
        var frames = await slow.ReadToEndAsync();

        Assert.Equal([new ServerFrame(FrameType.Error, NetworkErrorCode.Timeout, Guid.Empty, 0)], frames);
        Assert.Equal(1, sink.FaultCount(NetworkFaultKinds.Timeout));
        Assert.Equal(0, sink.FaultCount(NetworkFaultKinds.Truncated));
        await using var next = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        Assert.Equal(FrameType.Welcome, (await next.HelloAsync(alice.Secret))?.Type);
    }

    [Fact]
    public async Task ResetConnectionIsCountedAndTheRestartedCollectorGoesOn()
    {
        await using var listener = StartListener(_tokens);
        var alice = await _tokens.IssueAsync("alice", default);
        var m = Measurement("alice");
        var sink = new RecordingSink();
        await using var registration = listener.Register(m, sink);
        var crashing = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        await crashing.HelloAsync(alice.Secret);
        await crashing.SendAsync(DataFrame(m, 0, restart: true));
        await crashing.SendAsync(DataFrame(m, 1).AsMemory(0, 100));
        await sink.WaitForBlocksAsync(1);

        crashing.Reset();
        await UntilAsync(() => listener.Counters.ActiveConnections == 0, "the server noticed the reset");
        await using var restarted = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        await restarted.HelloAsync(alice.Secret);
        await restarted.SendAsync(DataFrame(m, 0, restart: true));
        await sink.WaitForBlocksAsync(2);

        // Depending on when the reset overtakes the bytes, the server sees a reset or an end inside a frame.
        Assert.Equal(1, sink.FaultCount(NetworkFaultKinds.ConnectionReset) + sink.FaultCount(NetworkFaultKinds.Truncated));
        Assert.Equal(1, sink.FaultCount(NetworkFaultKinds.CollectorRestart));
        Assert.Equal([T0(0), T0(0)], sink.Blocks.Select(b => b.T0Ns));
    }

    [Fact]
    public async Task ConnectionsBeyondTheLimitAreRefusedAndTheListenerGoesOn()
    {
        await using var listener = StartListener(_tokens, maxConnections: 2);
        var alice = await _tokens.IssueAsync("alice", default);
        await using var first = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        await using var second = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        await first.HelloAsync(alice.Secret);
        await second.HelloAsync(alice.Secret);

        await using var third = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        var refused = await third.ReadToEndAsync();
        await first.SendAsync(Bye());
        await first.ReadToEndAsync();
        await UntilAsync(() => listener.Counters.ActiveConnections == 1, "the first connection closed");
        await using var fourth = await TestCollector.ConnectAsync(listener.TcpEndPoint);

        Assert.Equal([NetworkErrorCode.Unavailable], refused.Select(f => f.Code));
        Assert.Equal(FrameType.Welcome, (await fourth.HelloAsync(alice.Secret))?.Type);
        Assert.Equal(1, listener.Counters.FaultsOf(NetworkFaultKinds.ConnectionLimit));
    }

    /// <summary>
    /// A few thousand broken frames between valid ones on one real TCP connection: every valid frame
    /// arrives exactly once and in order, each broken one is counted, and the listener still takes
    /// new connections afterwards.
    /// </summary>
    [Fact]
    public async Task ACollectorThatReadsLateStillHearsByeLastAfterManyRefusedFrames()
    {
        await using var listener = StartListener(_tokens);
        var alice = await _tokens.IssueAsync("alice", default);
        await using var collector = await TestCollector.ConnectAsync(listener.TcpEndPoint, receiveBufferBytes: 4096);
        Assert.Equal(FrameType.Welcome, (await collector.HelloAsync(alice.Secret))?.Type);

        // Frames for a measurement that does not run, each answered with an error the collector reads only after
        // its BYE: the replies back up into the server's reply queue, which drops advice when full. BYE's answer
        // must not be dropped with it (a loaded CI run saw an error as the last reply).
        var unknown = DataFrame(Measurement("alice"), 0, samples: 1);
        var burst = new byte[unknown.Length * 100_000];
        for (var offset = 0; offset < burst.Length; offset += unknown.Length)
        {
            unknown.CopyTo(burst, offset);
        }
        await collector.SendAsync(burst);
        await collector.SendAsync(Bye());
        var replies = await collector.ReadToEndAsync();

        Assert.Contains(replies, r => r.Code == NetworkErrorCode.NotFound);
        Assert.True(replies.Count < 100_000, $"{replies.Count} replies: the queue never filled, so this test proved nothing");
        Assert.Equal(FrameType.Bye, replies[^1].Type);
    }

    [Fact]
    public async Task MalformedFramesInterleavedWithValidOnesOverTcpLeaveTheValidDataIntact()
    {
        var device = new DeviceOptions
        {
            Id = "collectors",
            Driver = NetworkDriver.DriverKind,
            TcpPort = 0,
            UdpPort = -1,
            // Small, so a truncated frame's CRC-valid length cannot hold back more than 4 KB of what follows.
            MaxFrameBytes = 4096,
        };
        await using var listener = new NetworkListener(device, _tokens, TimeProvider.System, NullLogger.Instance);
        listener.Start();
        var alice = await _tokens.IssueAsync("alice", default);
        var m = Measurement("alice", channels: 2);
        var sink = new RecordingSink();
        await using var registration = listener.Register(m, sink);
        await using var collector = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        await collector.HelloAsync(alice.Secret);
        var replies = Task.Run(collector.ReadToEndAsync);

        var random = new Random(4242);
        var stream = new MemoryStream();
        var scratch = new byte[8192];
        var malformed = 0;
        ulong sequence = 0;
        var lastSamples = 0;
        var kinds = new HashSet<Mutation>();
        // Each broken frame is followed by a valid one, so each must be reported at least once.
        for (var i = 0; i < 3000; i++)
        {
            var mutation = (Mutation)random.Next(FrameMutator.MutationCount);
            var source = DataFrame(m, sequence, samples: 1 + random.Next(64));
            var length = FrameMutator.Mutate(random, mutation, source, isData: true, scratch);
            stream.Write(scratch, 0, length);
            kinds.Add(mutation);
            // A frame truncated to nothing leaves nothing to detect.
            malformed += length > 0 ? 1 : 0;
            lastSamples = 16 + (i % 32);
            stream.Write(DataFrame(m, sequence++, samples: lastSamples));
            if (i % 400 == 1)
            {
                // A duplicate of the last valid frame and a frame for a measurement that does not exist.
                stream.Write(DataFrame(m, sequence - 1, samples: lastSamples));
                stream.Write(DataFrame(Measurement("alice"), 0));
                malformed += 2;
            }
        }
        for (var i = 0; i < 20; i++)
        {
            stream.Write(DataFrame(m, sequence++, samples: 64));
        }
        var bytes = stream.ToArray();
        for (var offset = 0; offset < bytes.Length; offset += 16 * 1024)
        {
            await collector.SendAsync(bytes.AsMemory(offset, Math.Min(16 * 1024, bytes.Length - offset)));
        }
        await sink.WaitForBlocksAsync((int)sequence);

        await using var next = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        var welcome = await next.HelloAsync(alice.Secret);
        await next.SendAsync(DataFrame(m, sequence));
        await sink.WaitForBlocksAsync((int)sequence + 1);
        await collector.SendAsync(Bye());
        var errors = await replies;

        Assert.Equal(FrameType.Welcome, welcome?.Type);
        var blocks = sink.Blocks;
        Assert.Equal((int)sequence + 1, blocks.Count);
        for (var s = 0; s < (int)sequence; s++)
        {
            Assert.Equal(T0((ulong)s), blocks[s].T0Ns);
            Assert.Equal(Values((ulong)s, 2, blocks[s].Count), blocks[s].Values);
        }
        Assert.Equal(FrameMutator.MutationCount, kinds.Count);
        Assert.Equal(0, sink.FaultCount(NetworkFaultKinds.SequenceGap));
        Assert.Equal(8, sink.FaultCount(NetworkFaultKinds.Duplicate));
        // At least one fault per broken frame, and junk is reported per burst, not per byte.
        Assert.InRange(listener.Counters.Faults, malformed, 2 * malformed);
        foreach (var kind in new[] { NetworkFaultKinds.BadFrame, NetworkFaultKinds.Crc, NetworkFaultKinds.BadCounts, NetworkFaultKinds.NonFinite })
        {
            Assert.True(sink.FaultCount(kind) > 0, $"No '{kind}' fault reached the measurement.");
        }
        Assert.Equal(FrameType.Bye, errors[^1].Type);
        Assert.Contains(errors, e => e.Code == NetworkErrorCode.BadCrc);
    }
}
