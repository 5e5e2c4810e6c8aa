using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace MeasureApp.Security;

/// <summary><c>Security</c> section: key storage, proxies and the limits that protect shared resources.</summary>
public sealed class SecurityOptions
{
    public const string SectionName = "Security";

    /// <summary>
    /// File with the secret that encrypts the Data Protection key ring (login cookies) at rest; created
    /// with mode 0600 on first start. Must lie outside <c>Storage:DataDirectory</c>, so a copy of the
    /// database or data folder alone cannot mint cookies. Empty: <c>~/.config/MeasureApp/keyring.key</c>.
    /// Every instance of a scale-out must use a copy of the same file.
    /// </summary>
    public string? KeyFile { get; set; }

    /// <summary>Honour <c>X-Forwarded-For</c>/<c>X-Forwarded-Proto</c> from <see cref="KnownProxies"/> (behind nginx/Caddy).</summary>
    public bool TrustForwardedHeaders { get; set; }

    /// <summary>Proxy addresses whose forwarded headers are trusted; empty = loopback only.</summary>
    public IList<string> KnownProxies { get; } = [];

    /// <summary>Failed logins for one account from one address before that address is locked out of it.</summary>
    [Range(1, 100)]
    public int LockoutFailures { get; set; } = 5;

    /// <summary>First lockout of an (account, address) pair in seconds; each further one doubles, up to 15 minutes.</summary>
    [Range(1, 3600)]
    public int LockoutSeconds { get; set; } = 60;

    /// <summary>Login form posts per client address and minute.</summary>
    [Range(1, 10_000)]
    public int LoginsPerMinute { get; set; } = 20;

    /// <summary>Registration form posts per client address and hour (when registration is on).</summary>
    [Range(1, 10_000)]
    public int RegistrationsPerHour { get; set; } = 5;

    /// <summary>Interactive circuits (Blazor connections) on this instance.</summary>
    [Range(1, 1_000_000)]
    public int MaxCircuits { get; set; } = 1000;

    /// <summary>Interactive circuits from one client address.</summary>
    [Range(1, 1_000_000)]
    public int MaxCircuitsPerAddress { get; set; } = 50;

    /// <summary>UI events (clicks, inputs, calls from JS, navigations) one tab may send per second, sustained.</summary>
    [Range(1, 100_000)]
    public int CircuitEventsPerSecond { get; set; } = 50;

    /// <summary>UI events one tab may send at once above the sustained rate.</summary>
    [Range(1, 100_000)]
    public int CircuitEventBurst { get; set; } = 200;

    /// <summary>Seconds a tab may stay over its event budget (its events wait) before its connection is ended.</summary>
    [Range(1, 3600)]
    public int CircuitFloodSeconds { get; set; } = 10;
}
