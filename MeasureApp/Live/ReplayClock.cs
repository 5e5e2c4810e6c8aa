namespace MeasureApp.Live;

/// <summary>
/// A tab's own playback clock in measurement seconds: position = anchor + (now − anchorTime) × speed.
/// Re-anchoring on every change keeps pause, seek and speed changes exact without accumulating error.
/// Not thread-safe by itself; callers serialise through a lock.
/// </summary>
public sealed class ReplayClock(TimeProvider time)
{
    /// <summary>Slowest playback speed.</summary>
    public const double MinSpeed = 0.1;

    /// <summary>Fastest playback speed.</summary>
    public const double MaxSpeed = 100;

    private double _anchorSeconds;
    private long _anchorTicks = time.GetTimestamp();

    /// <summary>Playback speed (1 = real time).</summary>
    public double Speed { get; private set; } = 1;

    /// <summary>Whether the clock stands still.</summary>
    public bool Paused { get; private set; } = true;

    /// <summary>Current position in seconds since the start of the measurement.</summary>
    public double Position => Paused ? _anchorSeconds : _anchorSeconds + (time.GetElapsedTime(_anchorTicks).TotalSeconds * Speed);

    /// <summary>Starts or continues playing from the current position.</summary>
    public void Resume()
    {
        if (!Paused)
        {
            return;
        }
        _anchorTicks = time.GetTimestamp();
        Paused = false;
    }

    /// <summary>Freezes the position.</summary>
    public void Pause()
    {
        if (Paused)
        {
            return;
        }
        _anchorSeconds = Position;
        Paused = true;
    }

    /// <summary>Jumps to <paramref name="seconds"/> (not negative), keeping the paused state.</summary>
    public void Seek(double seconds)
    {
        if (!double.IsFinite(seconds) || seconds < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(seconds), seconds, "The position must be a finite number of seconds, not negative.");
        }
        _anchorSeconds = seconds;
        _anchorTicks = time.GetTimestamp();
    }

    /// <summary>Changes the speed (0.1 – 100) from the current position on.</summary>
    public void SetSpeed(double speed)
    {
        if (!double.IsFinite(speed) || speed < MinSpeed || speed > MaxSpeed)
        {
            throw new ArgumentOutOfRangeException(nameof(speed), speed, "The speed must be between 0.1 and 100.");
        }
        _anchorSeconds = Position;
        _anchorTicks = time.GetTimestamp();
        Speed = speed;
    }
}
