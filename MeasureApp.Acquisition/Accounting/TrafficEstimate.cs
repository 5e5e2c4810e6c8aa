using MeasureApp.Acquisition.Live;

namespace MeasureApp.Acquisition.Accounting;

/// <summary>
/// Cheap size estimates of live frames, so accounting never serializes or walks values. They are
/// estimates on purpose: the real size depends on the renderer's encoding and the runtime's list
/// growth, and an admin comparing users needs proportions, not exact bytes.
/// </summary>
public static class TrafficEstimate
{
    /// <summary>Bytes per point on the wire: x and y as text in the chart update (about 16 characters together).</summary>
    public const int BrowserBytesPerPoint = 16;

    /// <summary>Bytes per render besides the points: the SignalR/JS-interop envelope and trace options.</summary>
    public const int BrowserBytesPerRender = 200;

    /// <summary>Bytes per event on the wire (time, channel, kind, value as text).</summary>
    public const int BrowserBytesPerEvent = 64;

    /// <summary>Bytes of one queued point: a double time and a float value.</summary>
    public const int MemoryBytesPerPoint = sizeof(double) + sizeof(float);

    /// <summary>Bytes of a frame besides its points: the object, two lists per channel and the event list.</summary>
    public const int MemoryBytesPerFrame = 96;

    /// <summary>Bytes of one list header (object and backing array header).</summary>
    public const int MemoryBytesPerList = 56;

    /// <summary>Bytes of one queued event (a reference and the event record).</summary>
    public const int MemoryBytesPerEvent = 48;

    /// <summary>Estimated bytes a rendered frame costs on the way to the browser.</summary>
    public static long BrowserBytes(LiveFrame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        return BrowserBytesPerRender + (long)frame.PointCount * BrowserBytesPerPoint + (long)frame.Events.Count * BrowserBytesPerEvent;
    }

    /// <summary>Estimated memory a queued frame holds; stable while the frame sits unchanged in a buffer.</summary>
    public static long MemoryBytes(LiveFrame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        return MemoryBytesPerFrame + (2L * frame.X.Length * MemoryBytesPerList) + (long)frame.PointCount * MemoryBytesPerPoint + (long)frame.Events.Count * MemoryBytesPerEvent;
    }
}
