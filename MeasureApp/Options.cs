using System.ComponentModel.DataAnnotations;
using MeasureApp.Acquisition;

namespace MeasureApp;

/// <summary><c>Auth</c> section.</summary>
public sealed class AuthOptions
{
    public const string SectionName = "Auth";

    /// <summary>Whether anyone may create an account on the login page (<c>Auth:AllowRegistration</c>); off by default.</summary>
    public bool AllowRegistration { get; set; }

    /// <summary>New accounts stay locked until an administrator unlocks them on the Users page.</summary>
    public bool RegistrationRequiresApproval { get; set; } = true;

    /// <summary>When not empty, only e-mail addresses at these domains may register (e.g. <c>lab.example.org</c>).</summary>
    public IList<string> RegistrationDomains { get; } = [];

    /// <summary>How often open circuits re-check the user (lock, delete, demote), in seconds.</summary>
    [Range(5, 60)]
    public int RevalidationSeconds { get; set; } = 30;
}

/// <summary><c>Admin</c> section: the account that exists on first start.</summary>
public sealed class AdminOptions
{
    public const string SectionName = "Admin";

    /// <summary>E-mail of the first admin; empty → admin@measureapp.local with a generated password.</summary>
    public string? Email { get; set; }

    /// <summary>Password of the first admin; empty → generated and written once to the log.</summary>
    public string? Password { get; set; }

    /// <summary>Empty values are allowed (generated admin); set values must be usable.</summary>
    public IEnumerable<string?> Problems()
    {
        yield return string.IsNullOrWhiteSpace(Email) || new EmailAddressAttribute().IsValid(Email) ? null : $"{SectionName}:Email '{Email}' is not an e-mail address.";
        yield return string.IsNullOrEmpty(Password) || Password.Length >= 8 ? null : $"{SectionName}:Password needs at least 8 characters.";
    }
}

/// <summary><c>Limits</c> section: defaults for every user (admins override per user); ranges and built-in defaults from <see cref="LimitTable"/>.</summary>
public sealed class LimitsOptions
{
    public const string SectionName = "Limits";

    public int MaxParallelMeasurements { get; set; } = LimitTable.ParallelMeasurements.Default;

    public double MaxSampleRate { get; set; } = LimitTable.SampleRate.Default;

    public int MaxChannels { get; set; } = LimitTable.Channels.Default;

    public long MaxLiveBytesPerSecond { get; set; } = LimitTable.LiveBytesPerSecond.Default;

    public TimeSpan MaxDuration { get; set; } = LimitTable.Duration.Default;

    public int MaxSessions { get; set; } = LimitTable.Sessions.Default;

    public TimeSpan Retention { get; set; } = LimitTable.Retention.Default;

    /// <summary>Streaming downloads (CSV/Parquet export) one user may have running at once.</summary>
    public int MaxConcurrentExports { get; set; } = LimitTable.ConcurrentExports.Default;

    /// <summary>Values outside the table's ranges, one sentence each naming the key.</summary>
    public IEnumerable<string?> Problems() =>
    [
        LimitTable.ParallelMeasurements.SettingProblem(SectionName, MaxParallelMeasurements),
        LimitTable.SampleRate.SettingProblem(SectionName, MaxSampleRate),
        LimitTable.Channels.SettingProblem(SectionName, MaxChannels),
        LimitTable.LiveBytesPerSecond.SettingProblem(SectionName, MaxLiveBytesPerSecond),
        LimitTable.Duration.SettingProblem(SectionName, MaxDuration),
        LimitTable.Sessions.SettingProblem(SectionName, MaxSessions),
        LimitTable.Retention.SettingProblem(SectionName, Retention),
        LimitTable.ConcurrentExports.SettingProblem(SectionName, MaxConcurrentExports),
    ];
}

/// <summary><c>Storage</c> section.</summary>
public sealed class StorageOptions
{
    public const string SectionName = "Storage";

    /// <summary>Folder for the SQLite database, keys and spool (relative to the content root).</summary>
    [Required(ErrorMessage = "Storage:DataDirectory is required.")]
    public string DataDirectory { get; set; } = "data";
}

/// <summary><c>Monitor</c> section: thresholds that highlight overload on the Monitor page.</summary>
public sealed class MonitorOptions
{
    public const string SectionName = "Monitor";

    [Range(1, 1e12)]
    public double ValuesPerSecondWarning { get; set; } = 10_000_000;

    [Range(1, 1e12)]
    public double BytesToBrowserPerSecondWarning { get; set; } = 5_000_000;

    [Range(0.1, 1000)]
    public double PipelinePercentWarning { get; set; } = 50;

    [Range(0.001, 1e6)]
    public double DroppedFramesPerSecondWarning { get; set; } = 1;

    [Range(1, 600_000)]
    public double LatencyP99WarningMilliseconds { get; set; } = 60;
}

/// <summary><c>Live</c> section: how fast this server draws live charts.</summary>
public sealed class LiveOptions
{
    public const string SectionName = "Live";

    /// <summary>
    /// Drain ticks per second shared by every tab with live charts on this server (one tick draws all of a tab's
    /// charts): each tab draws at min(60 Hz, this ÷ tabs), so many tabs lower every tab's rate alike instead of
    /// saturating the CPU. 0 = no budget (every tab up to 60 Hz).
    /// </summary>
    [Range(0, 1_000_000)]
    public int FramesPerSecondPerServer { get; set; } = 12_000;
}
