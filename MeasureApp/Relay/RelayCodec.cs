using System.Text;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Live;

namespace MeasureApp.Relay;

/// <summary>A watcher on another instance asking for (or giving up) the frames of a measurement.</summary>
/// <param name="Watching">True: watch or renew the lease; false: the watcher is gone.</param>
/// <param name="MeasurementId">The measurement.</param>
/// <param name="WatcherId">The watcher; frames go to its own channel.</param>
/// <param name="UserId">The watching user (already checked on the watcher's instance).</param>
/// <param name="View">The chart's pixel width and window.</param>
public sealed record WatchRequest(bool Watching, Guid MeasurementId, Guid WatcherId, string UserId, LiveView View);

/// <summary>What a watcher receives: a merged frame with the source's counters, or the end of the measurement.</summary>
/// <param name="Frame">Merged decimated frame; null marks the end.</param>
/// <param name="SamplesSeen">Raw samples per channel the source subscription has seen.</param>
/// <param name="DroppedFrames">Frames the source subscription dropped.</param>
public sealed record RelayedFrame(LiveFrame? Frame, long SamplesSeen, long DroppedFrames);

/// <summary>A user on another instance asking the instance that runs a measurement to stop it.</summary>
/// <param name="RequestId">The answer goes to this request's own reply channel.</param>
/// <param name="MeasurementId">The measurement.</param>
/// <param name="UserId">The requesting user (checked again by the running instance).</param>
/// <param name="UserName">The requesting user's name (for the log).</param>
/// <param name="IsAdmin">Whether the requesting user is an administrator.</param>
public sealed record StopRequest(Guid RequestId, Guid MeasurementId, string UserId, string UserName, bool IsAdmin);

/// <summary>The running instance's answer to a <see cref="StopRequest"/>.</summary>
/// <param name="RequestId">The request answered.</param>
/// <param name="Stopped">True: stopped; false: not the requester's (answered like an unknown id).</param>
public sealed record StopReply(Guid RequestId, bool Stopped);

/// <summary>
/// Compact binary messages of the relay (little-endian; times as float64, values as float32), so a
/// frame costs about 12 bytes per point on Redis. Decoding checks every count against what is left,
/// so a corrupt or foreign message is refused with <see cref="FormatException"/>, never a huge allocation.
/// </summary>
public static class RelayCodec
{
    private const byte Version = 1;
    private const byte WatchKind = 1;
    private const byte UnwatchKind = 2;
    private const byte FrameKind = 3;
    private const byte EndKind = 4;
    private const byte StopKind = 5;
    private const byte StopReplyKind = 6;
    private const int MaxChannels = 64;

    /// <summary>Encodes a watch request.</summary>
    public static byte[] Encode(WatchRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var stream = new MemoryStream(64);
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Version);
            w.Write(request.Watching ? WatchKind : UnwatchKind);
            w.Write(request.MeasurementId.ToByteArray());
            w.Write(request.WatcherId.ToByteArray());
            w.Write(request.UserId);
            w.Write(request.View.PixelWidth);
            w.Write(request.View.Window.Ticks);
        }
        return stream.ToArray();
    }

    /// <summary>Decodes a watch request; <see cref="FormatException"/> when the message is not one.</summary>
    public static WatchRequest DecodeWatch(ReadOnlySpan<byte> message)
    {
        return Read(message, r =>
        {
            var kind = Header(r);
            if (kind is not (WatchKind or UnwatchKind))
            {
                throw new FormatException($"Not a watch request (kind {kind}).");
            }
            var measurement = new Guid(r.ReadBytes(16));
            var watcher = new Guid(r.ReadBytes(16));
            var user = r.ReadString();
            var width = r.ReadInt32();
            var window = r.ReadInt64();
            if (width < 1 || window <= 0)
            {
                throw new FormatException($"Invalid view ({width} px, {window} ticks).");
            }
            return new WatchRequest(kind == WatchKind, measurement, watcher, user, new LiveView(width, TimeSpan.FromTicks(window)));
        });
    }

    /// <summary>Encodes a stop request.</summary>
    public static byte[] Encode(StopRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Write(StopKind, w =>
        {
            w.Write(request.RequestId.ToByteArray());
            w.Write(request.MeasurementId.ToByteArray());
            w.Write(request.UserId);
            w.Write(request.UserName);
            w.Write(request.IsAdmin);
        });
    }

    /// <summary>Decodes a stop request; <see cref="FormatException"/> when the message is not one.</summary>
    public static StopRequest DecodeStop(ReadOnlySpan<byte> message) => Read(message, r =>
    {
        Expect(r, StopKind, "stop request");
        return new StopRequest(new Guid(r.ReadBytes(16)), new Guid(r.ReadBytes(16)), r.ReadString(), r.ReadString(), r.ReadBoolean());
    });

    /// <summary>Encodes the answer to a stop request.</summary>
    public static byte[] Encode(StopReply reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        return Write(StopReplyKind, w =>
        {
            w.Write(reply.RequestId.ToByteArray());
            w.Write(reply.Stopped);
        });
    }

    /// <summary>Decodes the answer to a stop request; <see cref="FormatException"/> when the message is not one.</summary>
    public static StopReply DecodeStopReply(ReadOnlySpan<byte> message) => Read(message, r =>
    {
        Expect(r, StopReplyKind, "stop reply");
        return new StopReply(new Guid(r.ReadBytes(16)), r.ReadBoolean());
    });

    /// <summary>Encodes a merged frame, or the end of the measurement when <see cref="RelayedFrame.Frame"/> is null.</summary>
    public static byte[] Encode(RelayedFrame relayed)
    {
        ArgumentNullException.ThrowIfNull(relayed);
        var frame = relayed.Frame;
        using var stream = new MemoryStream(64 + (frame?.PointCount ?? 0) * 12);
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Version);
            w.Write(frame is null ? EndKind : FrameKind);
            w.Write(relayed.SamplesSeen);
            w.Write(relayed.DroppedFrames);
            if (frame is not null)
            {
                w.Write(frame.NewestSampleNs);
                w.Write(frame.SampleCount);
                w.Write(frame.X.Length);
                for (var c = 0; c < frame.X.Length; c++)
                {
                    var n = Math.Min(frame.X[c].Count, frame.Y[c].Count);
                    w.Write(n);
                    for (var i = 0; i < n; i++)
                    {
                        w.Write(frame.X[c][i]);
                    }
                    for (var i = 0; i < n; i++)
                    {
                        w.Write(frame.Y[c][i]);
                    }
                }
                w.Write(frame.Events.Count);
                foreach (var e in frame.Events)
                {
                    w.Write(e.SampleIndex);
                    w.Write(e.Channel);
                    w.Write(e.Value);
                    w.Write(e.Kind);
                }
            }
        }
        return stream.ToArray();
    }

    /// <summary>Decodes a relayed frame; <see cref="FormatException"/> when the message is not one.</summary>
    public static RelayedFrame DecodeFrame(ReadOnlySpan<byte> message)
    {
        return Read(message, r =>
        {
            var kind = Header(r);
            if (kind is not (FrameKind or EndKind))
            {
                throw new FormatException($"Not a relayed frame (kind {kind}).");
            }
            var samples = r.ReadInt64();
            var dropped = r.ReadInt64();
            if (kind == EndKind)
            {
                return new RelayedFrame(null, samples, dropped);
            }
            var newest = r.ReadInt64();
            var count = r.ReadInt64();
            var channels = r.ReadInt32();
            if (channels is < 0 or > MaxChannels)
            {
                throw new FormatException($"Invalid channel count {channels}.");
            }
            var frame = ILiveFeed.NewFrame(channels, newest, count);
            for (var c = 0; c < channels; c++)
            {
                var n = Count(r, sizeof(double) + sizeof(float));
                frame.X[c].Capacity = n;
                frame.Y[c].Capacity = n;
                for (var i = 0; i < n; i++)
                {
                    frame.X[c].Add(r.ReadDouble());
                }
                for (var i = 0; i < n; i++)
                {
                    frame.Y[c].Add(r.ReadSingle());
                }
            }
            var events = Count(r, sizeof(long) + sizeof(int) + sizeof(float) + 1);
            for (var i = 0; i < events; i++)
            {
                var index = r.ReadInt64();
                var channel = r.ReadInt32();
                var value = r.ReadSingle();
                frame.Events.Add(new SampleEvent(index, channel, r.ReadString(), value));
            }
            return new RelayedFrame(frame, samples, dropped);
        });
    }

    private static byte[] Write(byte kind, Action<BinaryWriter> body)
    {
        using var stream = new MemoryStream(64);
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Version);
            w.Write(kind);
            body(w);
        }
        return stream.ToArray();
    }

    private static void Expect(BinaryReader r, byte expected, string what)
    {
        var kind = Header(r);
        if (kind != expected)
        {
            throw new FormatException($"Not a {what} (kind {kind}).");
        }
    }

    private static byte Header(BinaryReader r)
    {
        var version = r.ReadByte();
        if (version != Version)
        {
            throw new FormatException($"Unknown relay message version {version}.");
        }
        return r.ReadByte();
    }

    // A count is only believed when that many items of the given minimal size still fit in the message.
    private static int Count(BinaryReader r, int minimalItemBytes)
    {
        var n = r.ReadInt32();
        var left = r.BaseStream.Length - r.BaseStream.Position;
        if (n < 0 || (long)n * minimalItemBytes > left)
        {
            throw new FormatException($"Invalid count {n} with {left} bytes left.");
        }
        return n;
    }

    private static T Read<T>(ReadOnlySpan<byte> message, Func<BinaryReader, T> read)
    {
        using var stream = new MemoryStream(message.ToArray(), writable: false);
        using var reader = new BinaryReader(stream, Encoding.UTF8);
        try
        {
            var result = read(reader);
            if (stream.Position != stream.Length)
            {
                throw new FormatException($"{stream.Length - stream.Position} unexpected bytes after the message.");
            }
            return result;
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException or ArgumentException)
        {
            throw new FormatException($"Truncated or corrupt relay message: {ex.Message}", ex);
        }
    }
}
