using System.Globalization;
using MeasureApp.Acquisition.Accounting;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Limits;

namespace MeasureApp.Live;

/// <summary>
/// Lets a tab start a private SIMULATION only within its user's limits: sample rate and channels as for
/// a measurement, and no more simulations at once than parallel measurements. The simulation's work is
/// accounted to the user (Monitor, <c>/metrics</c>) through its <see cref="SimulationLease"/>.
/// </summary>
public sealed class SimulationAdmission(LimitsService limits, SimulationSlots slots, ResourceAccountant accountant)
{
    /// <summary>Simulations of a user running on this instance.</summary>
    public int RunningFor(string userId) => slots.CountFor(userId);

    /// <summary>Admits one simulation, or says why not.</summary>
    public async Task<(SimulationLease? Lease, string? Error)> AdmitAsync(Requester requester, int channels, double sampleRate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        var mine = await limits.GetAsync(requester.UserId, cancellationToken);
        if (!double.IsFinite(sampleRate) || sampleRate <= 0 || sampleRate > mine.MaxSampleRate)
        {
            return (null, string.Create(CultureInfo.InvariantCulture, $"The sample rate must be between 0 and your limit of {mine.MaxSampleRate:N0} Hz."));
        }
        if (channels < 1 || channels > mine.MaxChannels)
        {
            return (null, $"The channel count must be between 1 and your limit of {mine.MaxChannels}.");
        }
        var slot = slots.TryEnter(requester.UserId, mine.MaxParallelMeasurements);
        if (slot is null)
        {
            return (null, $"You are running {mine.MaxParallelMeasurements} of {mine.MaxParallelMeasurements} allowed simulations. Stop one in another tab first.");
        }
        return (new SimulationLease(requester.UserId, accountant, slot), null);
    }
}

/// <summary>One admitted simulation: accounts its work to the user and frees the slot when disposed.</summary>
public sealed class SimulationLease : IDisposable
{
    private readonly string _userId;
    private readonly ResourceAccountant _accountant;
    private readonly IDisposable _slot;

    internal SimulationLease(string userId, ResourceAccountant accountant, IDisposable slot)
    {
        _userId = userId;
        _accountant = accountant;
        _slot = slot;
    }

    /// <summary>Adds generated samples and the pipeline time spent on them to the user's meter.</summary>
    public void Account(long samples, int channels, long stopwatchTicks)
    {
        _accountant.AddSamples(_userId, samples, channels);
        _accountant.AddPipelineTicks(_userId, stopwatchTicks);
    }

    /// <inheritdoc />
    public void Dispose() => _slot.Dispose();
}
