using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Live;
using MeasureApp.Relay;

namespace MeasureApp.Tests.Relay;

public sealed class RelayCodecTests
{
    [Fact]
    public void AFrameSurvivesTheRoundTripBitForBit()
    {
        var frame = ILiveFeed.NewFrame(2, newestSampleNs: 1_700_000_000_123_456_789, sampleCount: 500);
        frame.X[0].AddRange([0.001, 0.0123456789012345, 12345.678901234567]);
        frame.Y[0].AddRange([1.5f, float.NaN, -3.25e-7f]);
        frame.X[1].Add(0.5);
        frame.Y[1].Add(float.MaxValue);
        frame.Events.Add(new SampleEvent(42, 1, "spike", 17.5f));
        frame.Events.Add(new SampleEvent(43, 0, "Schwelle überschritten", -1f));

        var decoded = RelayCodec.DecodeFrame(RelayCodec.Encode(new RelayedFrame(frame, SamplesSeen: 1234, DroppedFrames: 5)));

        Assert.Equal(1234, decoded.SamplesSeen);
        Assert.Equal(5, decoded.DroppedFrames);
        var f = decoded.Frame!;
        Assert.Equal(frame.NewestSampleNs, f.NewestSampleNs);
        Assert.Equal(frame.SampleCount, f.SampleCount);
        for (var c = 0; c < 2; c++)
        {
            Assert.Equal(frame.X[c], f.X[c]);
            Assert.Equal(frame.Y[c].Select(BitConverter.SingleToInt32Bits), f.Y[c].Select(BitConverter.SingleToInt32Bits));
        }
        Assert.Equal(frame.Events, f.Events);
    }

    [Fact]
    public void AFrameCostsTwelveBytesPerPointPlusAFixedHeader()
    {
        var frame = ILiveFeed.NewFrame(1, 0, 0);
        var empty = RelayCodec.Encode(new RelayedFrame(frame, 0, 0)).Length;
        for (var i = 0; i < 1000; i++)
        {
            frame.X[0].Add(i);
            frame.Y[0].Add(i);
        }

        Assert.Equal(empty + (1000 * 12), RelayCodec.Encode(new RelayedFrame(frame, 0, 0)).Length);
    }

    [Fact]
    public void TheEndOfAMeasurementIsAFrameWithoutPoints()
    {
        var decoded = RelayCodec.DecodeFrame(RelayCodec.Encode(new RelayedFrame(null, 99, 1)));

        Assert.Null(decoded.Frame);
        Assert.Equal(99, decoded.SamplesSeen);
    }

    [Fact]
    public void AWatchRequestSurvivesTheRoundTrip()
    {
        var request = new WatchRequest(true, Guid.NewGuid(), Guid.NewGuid(), "user-ä", new LiveView(1234, TimeSpan.FromSeconds(30)));

        Assert.Equal(request, RelayCodec.DecodeWatch(RelayCodec.Encode(request)));
        Assert.False(RelayCodec.DecodeWatch(RelayCodec.Encode(request with { Watching = false })).Watching);
    }

    [Fact]
    public void TruncatedForeignOrLyingMessagesAreRefusedWithAFormatError()
    {
        var frame = ILiveFeed.NewFrame(1, 0, 10);
        frame.X[0].AddRange([1.0, 2.0]);
        frame.Y[0].AddRange([1f, 2f]);
        var bytes = RelayCodec.Encode(new RelayedFrame(frame, 10, 0));
        var watch = RelayCodec.Encode(new WatchRequest(true, Guid.NewGuid(), Guid.NewGuid(), "u", new LiveView(10, TimeSpan.FromSeconds(1))));
        // Header (2) + samples (8) + dropped (8) + newest (8) + count (8) + channels (4): the point count follows.
        var lying = (byte[])bytes.Clone();
        BitConverter.GetBytes(int.MaxValue).CopyTo(lying, 38);

        Assert.Throws<FormatException>(() => RelayCodec.DecodeFrame(bytes.AsSpan(0, bytes.Length - 3)));
        Assert.Throws<FormatException>(() => RelayCodec.DecodeFrame(lying));
        Assert.Throws<FormatException>(() => RelayCodec.DecodeFrame([.. bytes, 0]));
        Assert.Throws<FormatException>(() => RelayCodec.DecodeFrame(watch));
        Assert.Throws<FormatException>(() => RelayCodec.DecodeWatch(bytes));
        Assert.Throws<FormatException>(() => RelayCodec.DecodeFrame("{\"json\":true}"u8));
        Assert.Throws<FormatException>(() => RelayCodec.DecodeWatch([]));
    }
}
