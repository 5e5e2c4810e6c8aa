using System.Threading.Channels;
using MeasureApp.Acquisition.Measurements;

namespace MeasureApp.Acquisition.Live;

/// <summary>
/// Decimated frames of one running measurement for one viewer: a subscription on this instance's
/// hub, or a feed relayed from the instance that acquires the measurement. A chart drains either
/// the same way.
/// </summary>
public interface ILiveFeed : IDisposable
{
    /// <summary>The measurement watched.</summary>
    MeasurementInfo Info { get; }

    /// <summary>The viewer's user id (for accounting and limits).</summary>
    string UserId { get; }

    /// <summary>Current view (pixel width and window).</summary>
    LiveView View { get; }

    /// <summary>Decimated frames, oldest first, in a bounded buffer; completes when the measurement stops.</summary>
    ChannelReader<LiveFrame> Frames { get; }

    /// <summary>Frames dropped because the reader (or the relay) was too slow.</summary>
    long DroppedFrames { get; }

    /// <summary>Raw samples per channel the frames summarised so far.</summary>
    long SamplesSeen { get; }

    /// <summary>Changes pixel width or window for the frames that follow.</summary>
    void ChangeView(LiveView view);

    /// <summary>
    /// An empty frame stamped with its newest sample time and sample count: for feeds that rebuild
    /// frames outside the hub (decoded from another instance).
    /// </summary>
    static LiveFrame NewFrame(int channels, long newestSampleNs, long sampleCount) =>
        new(channels) { NewestSampleNs = newestSampleNs, SampleCount = sampleCount };
}
