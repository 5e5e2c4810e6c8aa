namespace MeasureApp.Relay;

/// <summary>Cross-instance live relay (active only when <c>ConnectionStrings:Redis</c> is set).</summary>
public sealed class RelayOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Relay";

    /// <summary>Prefix of every Redis channel and key the relay uses (one per deployment).</summary>
    public string Prefix { get; set; } = "measureapp:relay:";

    /// <summary>A remote watcher that has not renewed its request for this long is gone: its relay stops.</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a watcher renews its request, and how often an instance announces what it runs.</summary>
    public TimeSpan RenewInterval { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Merged frames per second published per remote watcher.</summary>
    public int FramesPerSecond { get; set; } = 30;

    /// <summary>Decoded frames a remote feed buffers before dropping the oldest.</summary>
    public int BufferFrames { get; set; } = 64;

    /// <summary>How long an instance waits for the instance running a measurement to answer a stop request.</summary>
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often rows in state Running are checked for a live instance announcing them.</summary>
    public TimeSpan OrphanSweepInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A row younger than this is never an orphan (its instance may not have announced it yet).</summary>
    public TimeSpan OrphanMinAge { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The problem with these options, or null when they are usable.</summary>
    public string? Problem() =>
        string.IsNullOrWhiteSpace(Prefix) ? $"{SectionName}:Prefix must not be empty."
        : RenewInterval <= TimeSpan.Zero ? $"{SectionName}:RenewInterval must be positive (got {RenewInterval})."
        : Lease < 2 * RenewInterval ? $"{SectionName}:Lease must be at least twice {SectionName}:RenewInterval (got {Lease} and {RenewInterval})."
        : FramesPerSecond is < 1 or > 60 ? $"{SectionName}:FramesPerSecond must be between 1 and 60 (got {FramesPerSecond})."
        : BufferFrames is < 1 or > 4096 ? $"{SectionName}:BufferFrames must be between 1 and 4096 (got {BufferFrames})."
        : StopTimeout <= TimeSpan.Zero ? $"{SectionName}:StopTimeout must be positive (got {StopTimeout})."
        : OrphanSweepInterval <= TimeSpan.Zero ? $"{SectionName}:OrphanSweepInterval must be positive (got {OrphanSweepInterval})."
        : OrphanMinAge < Lease ? $"{SectionName}:OrphanMinAge must be at least {SectionName}:Lease (got {OrphanMinAge} and {Lease})."
        : null;

    internal string WatchChannel => Prefix + "watch";

    internal string FramesChannel(Guid watcherId) => $"{Prefix}frames:{watcherId:N}";

    internal string StopChannel => Prefix + "stop";

    internal string StopReplyChannel(Guid requestId) => $"{Prefix}stopped:{requestId:N}";

    internal string RunningKey(Guid measurementId) => $"{Prefix}running:{measurementId:N}";
}
