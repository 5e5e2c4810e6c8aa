using MeasureApp.Acquisition.Measurements;
using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Data;

/// <summary>A MeasureApp user.</summary>
public sealed class AppUser : IdentityUser
{
    /// <summary>When the account was created.</summary>
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>Role names.</summary>
public static class Roles
{
    /// <summary>Administrators: manage users and limits, see everything.</summary>
    public const string Admin = "Admin";

    /// <summary>Every user.</summary>
    public const string Operator = "Operator";
}

/// <summary>Stored metadata of a measurement (outlives its raw data).</summary>
public sealed class MeasurementRecord
{
    public Guid Id { get; set; }
    public required string OwnerId { get; set; }
    public required string OwnerName { get; set; }
    public required string Name { get; set; }
    public required string DeviceId { get; set; }
    /// <summary>Channel names and units as JSON.</summary>
    public required string ChannelsJson { get; set; }
    public int ChannelCount { get; set; }
    public double SampleRate { get; set; }
    public MeasurementState State { get; set; }
    public StopReason StopReason { get; set; }
    public string? StopDetail { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset? StoppedAt { get; set; }
    public long SampleCount { get; set; }
    public bool DataExpired { get; set; }
    /// <summary>Device faults by kind as JSON (<c>{"overrun":46}</c>); null when there were none.</summary>
    public string? FaultsJson { get; set; }
}

/// <summary>Per-user overrides of the default limits (null = default).</summary>
public sealed class UserLimitsRecord
{
    public required string UserId { get; set; }
    public int? MaxParallelMeasurements { get; set; }
    public double? MaxSampleRate { get; set; }
    public int? MaxChannels { get; set; }
    public long? MaxLiveBytesPerSecond { get; set; }
    public TimeSpan? MaxDuration { get; set; }
    public int? MaxSessions { get; set; }
    public TimeSpan? Retention { get; set; }
}

/// <summary>
/// The one EF Core model. Each provider has its own derived context so that each keeps its own
/// migration set (see docs/decisions/0001-two-database-providers.md).
/// </summary>
public abstract class AppDbContext(DbContextOptions options) : IdentityDbContext<AppUser>(options), IDataProtectionKeyContext
{
    public DbSet<MeasurementRecord> Measurements => Set<MeasurementRecord>();
    public DbSet<UserLimitsRecord> UserLimits => Set<UserLimitsRecord>();
    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();
    public DbSet<MeasureApp.Devices.DeviceRecord> Devices => Set<MeasureApp.Devices.DeviceRecord>();
    public DbSet<MeasureApp.Collectors.CollectorTokenRecord> CollectorTokens => Set<MeasureApp.Collectors.CollectorTokenRecord>();
    public DbSet<MeasureApp.Annotations.AnnotationRecord> Annotations => Set<MeasureApp.Annotations.AnnotationRecord>();
    public DbSet<MeasureApp.Sharing.MeasurementShareRecord> Shares => Set<MeasureApp.Sharing.MeasurementShareRecord>();
    public DbSet<MeasureApp.Audit.AuditRecord> Audit => Set<MeasureApp.Audit.AuditRecord>();
    public DbSet<MeasureApp.Tags.MeasurementTagRecord> MeasurementTags => Set<MeasureApp.Tags.MeasurementTagRecord>();
    public DbSet<MeasureApp.Tags.MeasurementMetadataRecord> MeasurementMetadata => Set<MeasureApp.Tags.MeasurementMetadataRecord>();

    protected override void OnModelCreating(ModelBuilder builder)
    {
        base.OnModelCreating(builder);
        builder.Entity<AppUser>(e => e.Property(u => u.CreatedAt));
        builder.Entity<MeasurementRecord>(e =>
        {
            e.ToTable("measurements");
            e.HasKey(m => m.Id);
            e.Property(m => m.OwnerId).HasMaxLength(450);
            e.Property(m => m.OwnerName).HasMaxLength(256);
            e.Property(m => m.Name).HasMaxLength(100);
            e.Property(m => m.DeviceId).HasMaxLength(64);
            e.Property(m => m.StopDetail).HasMaxLength(500);
            e.HasIndex(m => new { m.OwnerId, m.StartedAt });
            e.HasIndex(m => m.StartedAt);
        });
        // Annotations (Annotations/AnnotationService.cs): read per measurement; they go with their measurement.
        builder.Entity<MeasureApp.Annotations.AnnotationRecord>(e =>
        {
            e.ToTable("annotations");
            e.HasKey(a => a.Id);
            e.Property(a => a.AuthorId).HasMaxLength(450);
            e.Property(a => a.AuthorName).HasMaxLength(256);
            e.Property(a => a.Title).HasMaxLength(MeasureApp.Annotations.AnnotationService.MaxTitleLength);
            e.Property(a => a.Text).HasMaxLength(MeasureApp.Annotations.AnnotationService.MaxTextLength);
            e.Property(a => a.TagsJson).HasMaxLength(2000);
            e.HasIndex(a => new { a.MeasurementId, a.FromSeconds });
            e.HasOne<MeasurementRecord>().WithMany().HasForeignKey(a => a.MeasurementId).OnDelete(DeleteBehavior.Cascade);
        });
        // Read-only shares (Sharing/ShareService.cs): asked per (measurement, user) on every read path; they go
        // with their measurement and with their user.
        builder.Entity<MeasureApp.Sharing.MeasurementShareRecord>(e =>
        {
            e.ToTable("measurement_shares");
            e.HasKey(s => new { s.MeasurementId, s.UserId });
            e.Property(s => s.UserId).HasMaxLength(450);
            e.Property(s => s.GrantedById).HasMaxLength(450);
            e.HasIndex(s => s.UserId);
            e.HasOne<MeasurementRecord>().WithMany().HasForeignKey(s => s.MeasurementId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<AppUser>().WithMany().HasForeignKey(s => s.UserId).OnDelete(DeleteBehavior.Cascade);
        });
        // The audit trail (Audit/AuditLog.cs): append-only, no foreign keys so it outlives what it names.
        builder.Entity<MeasureApp.Audit.AuditRecord>(e =>
        {
            e.ToTable("audit");
            e.HasKey(a => a.Id);
            // Unix milliseconds: date-range filters and ordering translate on SQLite too (it has no DateTimeOffset).
            e.Property(a => a.At).HasConversion(v => v.ToUnixTimeMilliseconds(), v => DateTimeOffset.FromUnixTimeMilliseconds(v));
            e.Property(a => a.ActorId).HasMaxLength(450);
            e.Property(a => a.ActorName).HasMaxLength(256);
            e.Property(a => a.Action).HasMaxLength(16);
            e.Property(a => a.MeasurementName).HasMaxLength(100);
            e.Property(a => a.TargetUserId).HasMaxLength(450);
            e.Property(a => a.TargetUserName).HasMaxLength(256);
            e.Property(a => a.Detail).HasMaxLength(500);
            e.HasIndex(a => a.At);
            e.HasIndex(a => new { a.ActorId, a.At });
            e.HasIndex(a => new { a.MeasurementId, a.At });
        });
        // Tags and metadata (Tags/MeasurementLabelService.cs): folded copies for case-insensitive search on both providers;
        // (Normalized, MeasurementId) serves the tag filter. They go with their measurement.
        builder.Entity<MeasureApp.Tags.MeasurementTagRecord>(e =>
        {
            e.ToTable("measurement_tags");
            e.HasKey(t => new { t.MeasurementId, t.Normalized });
            e.Property(t => t.Tag).HasMaxLength(MeasureApp.Tags.MeasurementLabelService.MaxTagLength);
            e.Property(t => t.Normalized).HasMaxLength(2 * MeasureApp.Tags.MeasurementLabelService.MaxTagLength);
            e.HasIndex(t => new { t.Normalized, t.MeasurementId });
            e.HasOne<MeasurementRecord>().WithMany().HasForeignKey(t => t.MeasurementId).OnDelete(DeleteBehavior.Cascade);
        });
        builder.Entity<MeasureApp.Tags.MeasurementMetadataRecord>(e =>
        {
            e.ToTable("measurement_metadata");
            e.HasKey(m => new { m.MeasurementId, m.Key });
            e.Property(m => m.Key).HasMaxLength(MeasureApp.Tags.MeasurementLabelService.MaxKeyLength);
            e.Property(m => m.Value).HasMaxLength(MeasureApp.Tags.MeasurementLabelService.MaxValueLength);
            e.Property(m => m.Normalized).HasMaxLength(2 * (MeasureApp.Tags.MeasurementLabelService.MaxKeyLength + MeasureApp.Tags.MeasurementLabelService.MaxValueLength));
            e.HasOne<MeasurementRecord>().WithMany().HasForeignKey(m => m.MeasurementId).OnDelete(DeleteBehavior.Cascade);
        });
        builder.Entity<MeasureApp.Presence.PresenceSnapshotRecord>(e =>
        {
            e.ToTable("presence_snapshots");
            e.HasKey(p => p.Id);
            e.HasIndex(p => p.At);
        });
        // Collector tokens (Collectors/CollectorTokenStore.cs): looked up by hash; a user's tokens go with the user.
        builder.Entity<MeasureApp.Collectors.CollectorTokenRecord>(e =>
        {
            e.ToTable("collector_tokens");
            e.HasKey(t => t.Id);
            e.Property(t => t.UserId).HasMaxLength(450);
            e.Property(t => t.Name).HasMaxLength(MeasureApp.Collectors.CollectorTokenStore.MaxNameLength);
            e.Property(t => t.Hash).HasMaxLength(32);
            e.HasIndex(t => t.Hash).IsUnique();
            e.HasIndex(t => t.UserId);
            e.HasOne<AppUser>().WithMany().HasForeignKey(t => t.UserId).OnDelete(DeleteBehavior.Cascade);
        });
        builder.Entity<UserLimitsRecord>(e =>
        {
            e.ToTable("user_limits");
            e.HasKey(l => l.UserId);
            e.Property(l => l.UserId).HasMaxLength(450);
        });
        builder.Entity<MeasureApp.Devices.DeviceRecord>(e =>
        {
            e.ToTable("devices");
            e.HasKey(d => d.Id);
            e.Property(d => d.Id).HasMaxLength(64);
            e.Property(d => d.Driver).HasMaxLength(32);
            e.Property(d => d.Name).HasMaxLength(200);
        });
        // Raw data lives in sample_chunks, written with provider-specific bulk paths (Storage/).
        builder.Entity<SampleChunkRecord>(e =>
        {
            e.ToTable("sample_chunks");
            e.HasKey(c => new { c.MeasurementId, c.Sequence });
            e.Property(c => c.MeasurementId).HasColumnName("measurement_id");
            e.Property(c => c.Sequence).HasColumnName("seq");
            e.Property(c => c.FirstSampleIndex).HasColumnName("first_index");
            e.Property(c => c.T0Ns).HasColumnName("t0_ns");
            e.Property(c => c.SampleCount).HasColumnName("sample_count");
            e.Property(c => c.ChannelCount).HasColumnName("channel_count");
            e.Property(c => c.Payload).HasColumnName("payload");
            e.Property(c => c.MinMax).HasColumnName("min_max");
            e.HasIndex(c => new { c.MeasurementId, c.FirstSampleIndex });
        });
        // The min/max pyramid beside the chunks (Storage/DbSampleStore.cs, Acquisition SamplePyramid).
        builder.Entity<SampleLevelRecord>(e =>
        {
            e.ToTable("sample_levels");
            e.HasKey(l => new { l.MeasurementId, l.Level, l.Sequence });
            e.Property(l => l.MeasurementId).HasColumnName("measurement_id");
            e.Property(l => l.Level).HasColumnName("level");
            e.Property(l => l.Sequence).HasColumnName("seq");
            e.Property(l => l.FirstIndex).HasColumnName("first_index");
            e.Property(l => l.SampleCount).HasColumnName("sample_count");
            e.Property(l => l.ChannelCount).HasColumnName("channel_count");
            e.Property(l => l.Data).HasColumnName("data");
            e.Property(l => l.Sums).HasColumnName("sums");
            e.HasIndex(l => new { l.MeasurementId, l.Level, l.FirstIndex });
            // Rows of levels >= 3 still waiting for their sums (stored before they existed): a tiny partial index
            // so the background rebuild finds them without scanning the pyramid.
            e.HasIndex(l => new { l.Level, l.MeasurementId, l.Sequence }).HasDatabaseName("ix_sample_levels_sums_pending").HasFilter("sums IS NULL AND level >= 3");
        });
    }
}

/// <summary>Row shape of sample_chunks (written by bulk paths, mapped for migrations and reads).</summary>
public sealed class SampleChunkRecord
{
    public Guid MeasurementId { get; set; }
    public long Sequence { get; set; }
    public long FirstSampleIndex { get; set; }
    public long T0Ns { get; set; }
    public int SampleCount { get; set; }
    public int ChannelCount { get; set; }
    public required byte[] Payload { get; set; }
    /// <summary>Per channel min then max, float32 little-endian.</summary>
    public required byte[] MinMax { get; set; }
}

/// <summary>
/// Row shape of sample_levels, the min/max pyramid: levels 1 and 2 = 64- and 1024-sample buckets of one
/// chunk, level 3 = one chunk, level L ≥ 4 = 4^(L−3) chunks (16^(L−3) for measurements stored before 2026-11-24). Written and read by Storage/DbSampleStore.
/// </summary>
public sealed class SampleLevelRecord
{
    public Guid MeasurementId { get; set; }
    public int Level { get; set; }
    /// <summary>Levels 1–3: chunk sequence; level L ≥ 4: group number.</summary>
    public long Sequence { get; set; }
    public long FirstIndex { get; set; }
    public long SampleCount { get; set; }
    public int ChannelCount { get; set; }
    /// <summary>Per entry and channel: min, max, first, last (float32) and the positions of min and max.</summary>
    public required byte[] Data { get; set; }
    /// <summary>Levels ≥ 3: per channel count (int64), sum and M2 (float64) for exact statistics; null on levels 1–2 and until rebuilt.</summary>
    public byte[]? Sums { get; set; }
}

/// <summary>SQLite flavour (embedded default).</summary>
public sealed class SqliteAppDbContext(DbContextOptions<SqliteAppDbContext> options) : AppDbContext(options);

/// <summary>PostgreSQL flavour (production).</summary>
public sealed class PostgresAppDbContext(DbContextOptions<PostgresAppDbContext> options) : AppDbContext(options);
