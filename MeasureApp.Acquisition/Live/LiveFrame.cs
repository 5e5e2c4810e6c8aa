using MeasureApp.Acquisition.Blocks;

namespace MeasureApp.Acquisition.Live;

/// <summary>
/// Decimated points of one subscription since its previous frame: per channel, times (seconds
/// since the measurement's start) and values, in time order.
/// </summary>
public sealed class LiveFrame
{
    /// <summary>Creates an empty frame for <paramref name="channels"/> channels.</summary>
    public LiveFrame(int channels)
    {
        X = new List<double>[channels];
        Y = new List<float>[channels];
        for (var c = 0; c < channels; c++)
        {
            X[c] = [];
            Y[c] = [];
        }
    }

    /// <summary>Times per channel, seconds since the start of the measurement.</summary>
    public List<double>[] X { get; }

    /// <summary>Values per channel.</summary>
    public List<float>[] Y { get; }

    /// <summary>Events in this frame (always delivered, never decimated away).</summary>
    public List<SampleEvent> Events { get; } = [];

    /// <summary>Wall-clock time (ns since epoch) of the newest sample in the frame.</summary>
    public long NewestSampleNs { get; internal set; }

    /// <summary>Raw samples per channel the frame summarises.</summary>
    public long SampleCount { get; internal set; }

    /// <summary>Appends a later frame of the same subscription (a reader merging what piled up).</summary>
    public void Append(LiveFrame later)
    {
        ArgumentNullException.ThrowIfNull(later);
        for (var c = 0; c < X.Length && c < later.X.Length; c++)
        {
            X[c].AddRange(later.X[c]);
            Y[c].AddRange(later.Y[c]);
        }
        Events.AddRange(later.Events);
        NewestSampleNs = later.NewestSampleNs;
        SampleCount += later.SampleCount;
    }

    /// <summary>Number of points over all channels (a cost measure for bandwidth accounting).</summary>
    public int PointCount
    {
        get
        {
            var n = 0;
            foreach (var x in X)
            {
                n += x.Count;
            }
            return n;
        }
    }
}

/// <summary>How a subscriber wants its data: window and pixel width decide the column size.</summary>
/// <param name="PixelWidth">Chart width in pixels (columns).</param>
/// <param name="Window">Visible time span.</param>
public sealed record LiveView(int PixelWidth, TimeSpan Window)
{
    /// <summary>Samples per pixel column at a given rate (at least 1).</summary>
    public long SamplesPerColumn(double sampleRate) =>
        Math.Max(1, (long)(Window.TotalSeconds * sampleRate / Math.Max(1, PixelWidth)));
}
