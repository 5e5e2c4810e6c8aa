using Bunit;
using MeasureApp.Acquisition.Devices.Network;
using MeasureApp.Acquisition.Devices.SharedMemory;
using MeasureApp.Api;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Components.Live;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;

namespace MeasureApp.Tests.Components;

/// <summary>Every fault kind of both protocols reaches the live card and the API with its exact count.</summary>
public sealed class FaultChipsTests : MudTestContext
{
    private static readonly string[] AllKinds =
    [
        SharedMemoryFaults.Missing, SharedMemoryFaults.Header, SharedMemoryFaults.Truncated, SharedMemoryFaults.Restart, SharedMemoryFaults.Stalled,
        SharedMemoryFaults.Overrun, SharedMemoryFaults.Index, SharedMemoryFaults.Sequence, SharedMemoryFaults.Checksum, SharedMemoryFaults.Channels,
        SharedMemoryFaults.NonFinite, SharedMemoryFaults.Gap, SharedMemoryFaults.Duplicate, SharedMemoryFaults.User, SharedMemoryFaults.Foreign,
        SharedMemoryFaults.Command, SharedMemoryFaults.Internal,
        NetworkFaultKinds.BadFrame, NetworkFaultKinds.Crc, NetworkFaultKinds.Oversized, NetworkFaultKinds.BadCounts, NetworkFaultKinds.Mismatch,
        NetworkFaultKinds.SequenceGap, NetworkFaultKinds.Duplicate, NetworkFaultKinds.CollectorRestart, NetworkFaultKinds.Truncated,
        NetworkFaultKinds.ConnectionReset, NetworkFaultKinds.Timeout, NetworkFaultKinds.Auth, NetworkFaultKinds.NotFound, NetworkFaultKinds.Unexpected,
        NetworkFaultKinds.ConnectionLimit,
    ];

    [Fact]
    public void EachFaultKindOfBothProtocolsIsCountedByTheMeasurementAndShownOnTheCardAndInTheApiWithItsCount()
    {
        var measurement = new Measurement(new MeasurementInfo
        {
            Id = Guid.NewGuid(), OwnerId = "u", OwnerName = "u", Name = "m", DeviceId = "d", Channels = [new ChannelInfo("ch1", "V")],
            SampleRate = 1000, State = MeasurementState.Running, StartedAt = DateTimeOffset.UnixEpoch,
        });
        var kinds = AllKinds.Distinct(StringComparer.Ordinal).ToList();
        for (var k = 0; k < kinds.Count; k++)
        {
            // Kind k is reported k+1 times, the last time as a batch of 40 (e.g. records lost to an overrun).
            for (var i = 0; i < k; i++)
            {
                measurement.Faults.Add(kinds[k], 1, "fault", now: i);
            }
            measurement.Faults.Add(kinds[k], 40, "fault", now: k);
        }
        var info = measurement.Snapshot();

        var card = Render<FaultChips>(p => p.Add(c => c.Faults, info.Faults).Add(c => c.Bursts, info.FaultBursts).Add(c => c.Name, "m"));
        var api = MeasurementResource.From(info);

        for (var k = 0; k < kinds.Count; k++)
        {
            var expected = k + 40;
            Assert.Equal($"{kinds[k]} {expected:N0}", card.Find($".chip-fault[data-kind='{kinds[k]}']").TextContent.Trim());
            Assert.Equal(expected, api.Faults![kinds[k]]);
        }
        Assert.Equal(kinds.Count, card.FindAll(".chip-fault").Count);
    }

    [Fact]
    public void ANewBurstRaisesOneSnackbarAndACountThatOnlyGrowsInTheSameBurstRaisesNone()
    {
        var snackbars = Context.Services.GetRequiredService<ISnackbar>();
        var faults = new Dictionary<string, long>();
        var card = Render<FaultChips>(p => p.Add(c => c.Faults, faults).Add(c => c.Bursts, 0L).Add(c => c.Name, "run"));
        Assert.Empty(snackbars.ShownSnackbars);

        card.Render(p => p.Add(c => c.Faults, new Dictionary<string, long> { ["overrun"] = 3 }).Add(c => c.Bursts, 1L));
        card.Render(p => p.Add(c => c.Faults, new Dictionary<string, long> { ["overrun"] = 46 }).Add(c => c.Bursts, 1L));

        var shown = Assert.Single(snackbars.ShownSnackbars);
        Assert.Contains("overrun 3", shown.Message, StringComparison.Ordinal);
        Assert.Equal("overrun 46", card.Find(".chip-fault").TextContent.Trim());
    }
}
