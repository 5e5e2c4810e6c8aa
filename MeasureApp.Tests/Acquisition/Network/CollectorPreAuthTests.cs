using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Devices.Network;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using static MeasureApp.Tests.Acquisition.Network.NetworkTestKit;

namespace MeasureApp.Tests.Acquisition.Network;

/// <summary>
/// The collector port before and around authentication, over real sockets on 127.0.0.1: anonymous
/// peers get no answers and no lasting slot, a HELLO at the documented limits is accepted, bad tokens
/// are slowed down per address and counted, a revoked token stops an open connection, and fault log
/// lines carry the true count of a burst.
/// </summary>
public sealed class CollectorPreAuthTests
{
    private static readonly DateTimeOffset Start = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly InMemoryCollectorTokens _tokens = new();
    private readonly LogLines _log = new();

    [Fact]
    public async Task HeartbeatBeforeHelloIsNotAnsweredAndEndsTheConnection()
    {
        await using var listener = Listen(new FakeTimeProvider(Start));
        await using var peer = await TestCollector.ConnectAsync(listener.TcpEndPoint);

        await peer.SendAsync(Control(b => FrameEncoder.WriteHeartbeat(b, 42)));
        var frames = await peer.ReadToEndAsync();

        Assert.DoesNotContain(frames, f => f.Type == FrameType.Heartbeat);
        Assert.Equal([new ServerFrame(FrameType.Error, NetworkErrorCode.AuthRequired, Guid.Empty, 42)], frames);
        await UntilAsync(() => listener.Counters.ActiveConnections == 0, "the connection is closed");
    }

    [Fact]
    public async Task WelcomeBeforeHelloEndsTheConnection()
    {
        await using var listener = Listen(new FakeTimeProvider(Start));
        await using var peer = await TestCollector.ConnectAsync(listener.TcpEndPoint);

        await peer.SendAsync(Control(b => FrameEncoder.WriteWelcome(b, 4096, 1000)));
        var frames = await peer.ReadToEndAsync();

        Assert.Equal([NetworkErrorCode.AuthRequired], frames.Select(f => f.Code));
        Assert.Equal(1, listener.Counters.FaultsOf(NetworkFaultKinds.Auth));
    }

    [Fact]
    public async Task HelloWithTheLongestHeaderAndTheLongestNameIsAccepted()
    {
        await using var listener = Listen(new FakeTimeProvider(Start));
        var alice = await _tokens.IssueAsync("alice", default);
        await using var peer = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        var hello = LongHello(alice.Secret, new string('n', FrameFormat.MaxCollectorNameBytes));
        Assert.Equal(FrameFormat.MaxHelloFrameLength, hello.Length);

        await peer.SendAsync(hello);

        Assert.Equal(FrameType.Welcome, (await peer.ReadAsync())?.Type);
    }

    [Fact]
    public async Task PeerThatDoesNotAuthenticateIsClosedAfterTheAuthTimeoutWhateverItSends()
    {
        var time = new FakeTimeProvider(Start);
        await using var listener = Listen(time, authTimeoutSeconds: 5);
        await using var peer = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        await UntilAsync(() => listener.Counters.ActiveConnections == 1, "the connection is accepted");

        // A byte now and then (slowloris: the magic, one byte at a time) does not buy time before the HELLO.
        for (var i = 0; i < 4; i++)
        {
            var before = listener.Counters.BytesReceived;
            await peer.SendAsync("MANF"u8.ToArray().AsMemory(i, 1));
            await UntilAsync(() => listener.Counters.BytesReceived == before + 1, "the byte was received");
            time.Advance(TimeSpan.FromSeconds(1));
        }
        Assert.Equal(1, listener.Counters.ActiveConnections);
        time.Advance(TimeSpan.FromSeconds(1.5));
        var frames = await peer.ReadToEndAsync();

        Assert.Equal([NetworkErrorCode.Timeout], frames.Select(f => f.Code));
        Assert.Equal(1, listener.Counters.FaultsOf(NetworkFaultKinds.Timeout));
    }

    [Fact]
    public async Task AnonymousConnectionsAreCappedPerAddressAndAnAuthenticatedOneFreesItsPlace()
    {
        await using var listener = Listen(new FakeTimeProvider(Start), maxPreAuth: 2);
        var alice = await _tokens.IssueAsync("alice", default);
        await using var first = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        await using var second = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        await UntilAsync(() => listener.Counters.ActiveConnections == 2, "two anonymous connections are open");

        await using var third = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        var refused = await third.ReadToEndAsync();
        var welcome = await first.HelloAsync(alice.Secret);
        await using var fourth = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        var fourthWelcome = await fourth.HelloAsync(alice.Secret);

        Assert.Equal([NetworkErrorCode.Unavailable], refused.Select(f => f.Code));
        Assert.Equal(FrameType.Welcome, welcome?.Type);
        Assert.Equal(FrameType.Welcome, fourthWelcome?.Type);
        Assert.Equal(1, listener.Counters.FaultsOf(NetworkFaultKinds.ConnectionLimit));
    }

    [Fact]
    public async Task RepeatedBadTokensFromOneAddressAreSlowedDownAndCounted()
    {
        var time = new FakeTimeProvider(Start);
        var store = new CountingTokens(_tokens);
        await using var listener = Listen(time, tokens: store);
        var alice = await _tokens.IssueAsync("alice", default);

        for (var i = 0; i < 3; i++)
        {
            await using var guesser = await TestCollector.ConnectAsync(listener.TcpEndPoint);
            Assert.Equal(NetworkErrorCode.AuthFailed, (await guesser.HelloAsync(RandomToken()))?.Code);
        }
        await using var fourth = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        await fourth.SendAsync(Hello(alice.Secret));
        await UntilAsync(() => listener.Counters.AuthenticationsThrottled == 1, "the fourth attempt is held back");
        var lookupsWhileHeld = store.Lookups;
        time.Advance(TimeSpan.FromMilliseconds(300));
        var reply = await fourth.ReadAsync();

        Assert.Equal(3, lookupsWhileHeld);
        Assert.Equal(FrameType.Welcome, reply?.Type); // slowed down, not locked out: a good token still gets in
        Assert.Equal(3, listener.Counters.AuthenticationFailures);

        // UDP: while the address is held back, datagrams with unknown tokens are dropped without asking the store.
        using var udp = new Socket(listener.UdpEndPoint!.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        var m = Measurement("alice");
        await udp.SendToAsync(DataFrame(m, 0, token: RandomToken()), listener.UdpEndPoint);
        await UntilAsync(() => listener.Counters.AuthenticationFailures == 4, "the UDP guess is refused");
        await udp.SendToAsync(DataFrame(m, 1, token: RandomToken()), listener.UdpEndPoint);
        await UntilAsync(() => listener.Counters.AuthenticationsThrottled == 2, "the next UDP guess is dropped unchecked");
        Assert.Equal(5, store.Lookups);
    }

    [Fact]
    public async Task RevokedTokenStopsAnOpenTcpConnectionAndUdpWithinTheRecheckInterval()
    {
        var time = new FakeTimeProvider(Start);
        await using var listener = Listen(time, recheckSeconds: 5);
        var alice = await _tokens.IssueAsync("alice", default);
        var m = Measurement("alice");
        var sink = new RecordingSink();
        await using var registration = listener.Register(m, sink);
        await using var collector = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        using var udp = new Socket(listener.UdpEndPoint!.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        Assert.Equal(FrameType.Welcome, (await collector.HelloAsync(alice.Secret))?.Type);
        await collector.SendAsync(DataFrame(m, 0, restart: true));
        await udp.SendToAsync(DataFrame(m, 1, token: alice.Secret), listener.UdpEndPoint);
        await sink.WaitForBlocksAsync(2);

        await _tokens.RevokeAsync("alice", alice.Id, default);
        time.Advance(TimeSpan.FromSeconds(6));
        await collector.SendAsync(DataFrame(m, 2));
        var frames = await collector.ReadToEndAsync();
        await udp.SendToAsync(DataFrame(m, 3, token: alice.Secret), listener.UdpEndPoint);
        await UntilAsync(() => listener.Counters.AuthenticationFailures == 1, "the UDP frame with the revoked token is refused");

        Assert.Equal([NetworkErrorCode.AuthFailed], frames.Select(f => f.Code));
        Assert.Equal(2, sink.Blocks.Count);
    }

    [Fact]
    public async Task BurstOfBadDatagramsIsLoggedOnceWithItsTrueCount()
    {
        var time = new FakeTimeProvider(Start);
        await using var listener = Listen(time);
        using var udp = new Socket(listener.UdpEndPoint!.AddressFamily, SocketType.Dgram, ProtocolType.Udp);

        for (var i = 0; i < 46; i++)
        {
            await udp.SendToAsync(new byte[] { 1, 2, 3, (byte)i }, listener.UdpEndPoint);
        }
        await UntilAsync(() => listener.Counters.FaultsOf(NetworkFaultKinds.BadFrame) == 46, "every datagram was counted");
        time.Advance(TimeSpan.FromSeconds(1));
        time.Advance(TimeSpan.FromSeconds(1));
        await UntilAsync(() => _log.Lines.Count > 0, "the burst was logged");

        var line = Assert.Single(_log.Lines);
        Assert.Contains("bad-frame × 46 ", line, StringComparison.Ordinal);
    }

    private NetworkListener Listen(TimeProvider time, int authTimeoutSeconds = 5, int maxPreAuth = 8, int recheckSeconds = 5, ICollectorTokens? tokens = null) =>
        StartListener(tokens ?? _tokens, time, authTimeoutSeconds: authTimeoutSeconds, maxPreAuthPerAddress: maxPreAuth, tokenRecheckSeconds: recheckSeconds, logger: _log);

    private static byte[] Control(Func<byte[], int> write)
    {
        var buffer = new byte[FrameEncoder.MaxControlFrameLength];
        return buffer[..write(buffer)];
    }

    private static byte[] RandomToken()
    {
        var token = new byte[32];
        Random.Shared.NextBytes(token);
        return token;
    }

    /// <summary>A HELLO with the longest header a receiver must accept (256 bytes; the extension bytes are zero).</summary>
    private static byte[] LongHello(byte[] token, string name)
    {
        const int header = FrameFormat.MaxHeaderLength;
        var payload = token.Concat(Encoding.UTF8.GetBytes(name)).ToArray();
        var frame = new byte[header + payload.Length + 4];
        "MANF"u8.CopyTo(frame);
        frame[4] = FrameFormat.Version;
        frame[5] = (byte)FrameType.Hello;
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(8), header);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(12), (uint)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(header - 4), Crc32.Compute(frame.AsSpan(0, header - 4)));
        payload.CopyTo(frame, header);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(header + payload.Length), Crc32.Compute(frame.AsSpan(0, header + payload.Length)));
        return frame;
    }

    /// <summary>Counts how often the listener asks the store.</summary>
    private sealed class CountingTokens(ICollectorTokens inner) : ICollectorTokens
    {
        private int _lookups;

        public int Lookups => Volatile.Read(ref _lookups);

        public ValueTask<string?> ResolveAsync(ReadOnlyMemory<byte> token, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _lookups);
            return inner.ResolveAsync(token, cancellationToken);
        }

        public ValueTask<IssuedCollectorToken> IssueAsync(string userId, CancellationToken cancellationToken) => inner.IssueAsync(userId, cancellationToken);

        public ValueTask<bool> RevokeAsync(string userId, Guid tokenId, CancellationToken cancellationToken) => inner.RevokeAsync(userId, tokenId, cancellationToken);
    }

    /// <summary>Keeps the warning lines the listener writes.</summary>
    private sealed class LogLines : ILogger
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

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Warning)
            {
                lock (_gate)
                {
                    _lines.Add(formatter(state, exception));
                }
            }
        }
    }
}
